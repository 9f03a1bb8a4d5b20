package org.jmoe.train;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * All parameters of a {@link TrainConfig} model in one float array (and the gradients in another of the same
 * layout), as llm.c keeps them: each tensor is a named slice with a shape, named as a Hugging Face Qwen2-MoE
 * checkpoint names it, so checkpoints are written slice by slice.
 */
public final class ParamTensors {
    /** One tensor: offset into the array, shape outermost first ({@code [rows, cols]} for matrices). */
    public record Slot(String name, int offset, int[] shape) {
        public int size() {
            int n = 1;
            for (int s : shape) n *= s;
            return n;
        }
    }

    /** Offsets of one layer's tensors. */
    record Layer(int attnNorm, int wq, int wk, int wv, int wo, int ffnNorm, int router, SwiGlu.Weights[] experts, SwiGlu.Weights shared) { }

    private final Map<String, Slot> slots = new LinkedHashMap<>();
    private int size;
    final int embed, lmHead, finalNorm;
    final Layer[] layers;
    public final float[] values;
    public final float[] grads;

    public ParamTensors(TrainConfig c) {
        int H = c.hidden();
        embed = add("model.embed_tokens.weight", c.vocab(), H);
        layers = new Layer[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            String b = "model.layers." + l + ".";
            int an = add(b + "input_layernorm.weight", H);
            int q = add(b + "self_attn.q_proj.weight", c.qDim(), H);
            int k = add(b + "self_attn.k_proj.weight", c.kvDim(), H);
            int v = add(b + "self_attn.v_proj.weight", c.kvDim(), H);
            int o = add(b + "self_attn.o_proj.weight", H, c.qDim());
            int fn = add(b + "post_attention_layernorm.weight", H);
            int r = add(b + "mlp.gate.weight", c.experts(), H);
            SwiGlu.Weights[] ex = new SwiGlu.Weights[c.experts()];
            for (int e = 0; e < c.experts(); e++) ex[e] = ffn(b + "mlp.experts." + e + ".", H, c.expertFfn());
            SwiGlu.Weights sh = c.sharedFfn() > 0 ? ffn(b + "mlp.shared_expert.", H, c.sharedFfn()) : null;
            layers[l] = new Layer(an, q, k, v, o, fn, r, ex, sh);
        }
        finalNorm = add("model.norm.weight", H);
        lmHead = c.tied() ? embed : add("lm_head.weight", c.vocab(), H);
        values = new float[size];
        grads = new float[size];
    }

    private SwiGlu.Weights ffn(String prefix, int d, int f) {
        int g = add(prefix + "gate_proj.weight", f, d);
        int u = add(prefix + "up_proj.weight", f, d);
        int dn = add(prefix + "down_proj.weight", d, f);
        return new SwiGlu.Weights(g, u, dn, d, f);
    }

    private int add(String name, int... shape) {
        Slot s = new Slot(name, size, shape);
        slots.put(name, s);
        size += s.size();
        return s.offset();
    }

    /** Tensors in layout order. */
    public Map<String, Slot> slots() { return Collections.unmodifiableMap(slots); }

    public int size() { return size; }

    /**
     * Seeded initialisation: norms 1; embeddings N(0, 0.02²) (GPT-2's); matrices N(0, 1/fan-in) with output
     * projections (o_proj, down_proj) scaled by 1/√(2·layers) as GPT-2 scales residual branches.
     */
    public void init(long seed, int layerCount) {
        for (Slot s : slots.values()) {
            SplittableRandom r = new SplittableRandom(seed ^ (s.name().hashCode() * 0x9E3779B97F4A7C15L));
            double std;
            if (s.shape().length == 1) {
                java.util.Arrays.fill(values, s.offset(), s.offset() + s.size(), 1f);
                continue;
            } else if (s.name().contains("embed_tokens") || s.name().equals("lm_head.weight")) {
                std = 0.02;
            } else {
                std = 1 / Math.sqrt(s.shape()[1]);
                if (s.name().contains("o_proj") || s.name().contains("down_proj")) std /= Math.sqrt(2.0 * layerCount);
            }
            for (int i = s.offset(); i < s.offset() + s.size(); i++) values[i] = (float) (r.nextGaussian() * std);
        }
    }

    public void zeroGrads() { java.util.Arrays.fill(grads, 0f); }

    /** {@link #zeroGrads()} in chunks over the pool. */
    public void zeroGrads(org.jmoe.tensor.Parallel pool) {
        int chunk = 1 << 16;
        pool.forEach((grads.length + chunk - 1) / chunk, (c, w) -> java.util.Arrays.fill(grads, c * chunk, Math.min(grads.length, (c + 1) * chunk), 0f));
    }
}
