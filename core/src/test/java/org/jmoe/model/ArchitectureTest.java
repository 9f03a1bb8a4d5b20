package org.jmoe.model;

import org.jmoe.Reference;
import org.jmoe.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/** Architectures llama.cpp's references do not cover, against the independent double-precision forward pass. */
class ArchitectureTest {
    static final int[] TOKENS = {5, 17, 3, 88, 42, 9, 61, 0, 77, 12};

    static void assertMatches(float[] got, double[][] want, int V) {
        for (int t = 0; t < want.length; t++) {
            double maxAbs = 1, diff = 0;
            for (int i = 0; i < V; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(want[t][i]));
                diff = Math.max(diff, Math.abs(got[t * V + i] - want[t][i]));
            }
            // float32 engine vs float64 expectation over a few hundred operations per logit: ~1e-6 relative;
            // 1e-4 leaves margin, and a flipped routing decision would show as ~1e-1.
            assertThat(diff).as("position %d", t).isLessThanOrEqualTo(1e-4 * maxAbs);
        }
    }

    static void check(ModelConfig c, long seed) {
        try (Model m = TestModels.build(c, seed)) {
            float[] got = new float[TOKENS.length * c.vocab];
            new Forward(m, 32).eval(TOKENS, got, true);
            assertMatches(got, new DoubleForward(m).logits(TOKENS), c.vocab);
        }
    }

    @Test
    void doubleForwardItselfMatchesLlamaCpp() {
        // Validates the test's own expectation against llama.cpp before trusting it elsewhere.
        // DoubleForward has no q/k norms, so it is checked on the two references without them.
        for (String name : new String[]{"llama_moe", "qwen2moe"}) {
            Reference.Logits ref = Reference.logits(name);
            try (Model m = GgufModelLoader.load(Reference.model(name + ".gguf"))) {
                double[][] want = new DoubleForward(m).logits(ref.tokens());
                float[] flat = new float[ref.tokens().length * m.config().vocab];
                for (int t = 0; t < want.length; t++) for (int i = 0; i < m.config().vocab; i++) flat[t * m.config().vocab + i] = ref.logits()[t][i];
                assertMatches(flat, want, m.config().vocab);
            }
        }
    }

    /** The GGUF loader reads Granite's multipliers (embedding, residual, attention, logit scale) from the file. */
    @Test
    void synthesisedGraniteGgufMatchesTheDoubleForward(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        java.nio.file.Path p = dir.resolve("granite.gguf");
        Synth.write("granitemoe", "tiny", org.jmoe.tensor.DType.F32, 5, p);
        try (Model m = ModelLoader.load(p)) {
            assertThat(m.config().embeddingScale).isEqualTo(12f);
            assertThat(m.config().logitScale).isEqualTo(6f);
            float[] got = new float[TOKENS.length * m.config().vocab];
            new Forward(m, 32).eval(TOKENS, got, true);
            assertMatches(got, new DoubleForward(m).logits(TOKENS), m.config().vocab);
        }
    }

    /**
     * DeepSeek-style routing read from GGUF metadata (arch "deepseek": expert_gating_func 2, expert_weights_norm,
     * expert_weights_scale, expert_group_count / _used_count, leading_dense_block_count, shared experts,
     * exp_probs_b): the loaded model computes exactly what the same weights and config compute in memory.
     */
    @Test
    void deepseekStyleGgufLoadsTheRoutingConfig(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        ModelConfig c = TestModels.deepseek();
        java.nio.file.Path p = dir.resolve("deepseek.gguf");
        try (Model m = TestModels.build(c, 31)) {
            org.jmoe.format.GgufWriter w = new org.jmoe.format.GgufWriter();
            String a = "deepseek.";
            w.putString("general.architecture", "deepseek");
            w.putU32(a + "context_length", 256).putU32(a + "embedding_length", c.hidden).putU32(a + "block_count", c.layers);
            w.putU32(a + "feed_forward_length", c.denseFfn).putU32(a + "expert_feed_forward_length", c.expertFfn);
            w.putU32(a + "attention.head_count", c.heads).putU32(a + "attention.head_count_kv", c.kvHeads);
            w.putU32(a + "attention.key_length", c.headDim).putF32(a + "attention.layer_norm_rms_epsilon", c.rmsEps);
            w.putF32(a + "rope.freq_base", c.ropeTheta).putU32(a + "rope.dimension_count", c.ropeDim);
            w.putU32(a + "expert_count", c.experts).putU32(a + "expert_used_count", c.expertsUsed);
            w.putU32(a + "leading_dense_block_count", c.leadingDenseLayers);
            w.putU32(a + "expert_shared_feed_forward_length", c.sharedFfn);
            w.putU32(a + "expert_gating_func", 2).putBool(a + "expert_weights_norm", true).putF32(a + "expert_weights_scale", c.weightsScale);
            w.putU32(a + "expert_group_count", c.groups).putU32(a + "expert_group_used_count", c.groupsUsed);
            add(w, "token_embd.weight", m.tokenEmbd());
            add(w, "output.weight", m.output());
            vec(w, "output_norm.weight", m.outputNorm());
            for (int l = 0; l < c.layers; l++) {
                LayerWeights lw = m.layer(l);
                String b = "blk." + l + ".";
                vec(w, b + "attn_norm.weight", lw.attnNorm);
                vec(w, b + "ffn_norm.weight", lw.ffnNorm);
                add(w, b + "attn_q.weight", lw.wq);
                add(w, b + "attn_k.weight", lw.wk);
                add(w, b + "attn_v.weight", lw.wv);
                add(w, b + "attn_output.weight", lw.wo);
                if (!c.isMoeLayer(l)) {
                    add(w, b + "ffn_gate.weight", lw.ffnGate);
                    add(w, b + "ffn_up.weight", lw.ffnUp);
                    add(w, b + "ffn_down.weight", lw.ffnDown);
                    continue;
                }
                add(w, b + "ffn_gate_inp.weight", lw.router);
                vec(w, b + "exp_probs_b.bias", lw.selectionBias);
                stack(w, b + "ffn_gate_exps.weight", lw.expGate);
                stack(w, b + "ffn_up_exps.weight", lw.expUp);
                stack(w, b + "ffn_down_exps.weight", lw.expDown);
                add(w, b + "ffn_gate_shexp.weight", lw.shGate);
                add(w, b + "ffn_up_shexp.weight", lw.shUp);
                add(w, b + "ffn_down_shexp.weight", lw.shDown);
            }
            w.write(p);
            float[] want = new float[TOKENS.length * c.vocab];
            new Forward(m, 32).eval(TOKENS, want, true);
            try (Model g = ModelLoader.load(p)) {
                ModelConfig gc = g.config();
                assertThat(gc.gating).isEqualTo(ModelConfig.Gating.SIGMOID);
                assertThat(gc.routing).isEqualTo(ModelConfig.Routing.GROUP_LIMITED);
                assertThat(gc.normTopK).isTrue();
                assertThat(gc.leadingDenseLayers).isEqualTo(1);
                float[] got = new float[TOKENS.length * c.vocab];
                new Forward(g, 32).eval(TOKENS, got, true);
                assertThat(got).containsExactly(want);
            }
        }
    }

    private static void add(org.jmoe.format.GgufWriter w, String name, org.jmoe.tensor.Tensor t) {
        w.addTensor(name, t.type(), t.shape(), s -> s.write(t.data().asByteBuffer()));
    }

    private static void vec(org.jmoe.format.GgufWriter w, String name, float[] v) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        w.addTensor(name, org.jmoe.tensor.DType.F32, new long[]{v.length}, s -> s.write(b.array(), 0, b.capacity()));
    }

    private static void stack(org.jmoe.format.GgufWriter w, String name, org.jmoe.tensor.Tensor[] experts) {
        long[] ne = {experts[0].ne(0), experts[0].ne(1), experts.length};
        w.addTensor(name, org.jmoe.tensor.DType.F32, ne, s -> {
            for (org.jmoe.tensor.Tensor t : experts) s.write(t.data().asByteBuffer());
        });
    }

    /** Without output.weight the LM head is the token embedding (tied), as llama.cpp does. */
    @Test
    void tiedEmbeddingsWhenOutputIsAbsent(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        java.nio.file.Path p = dir.resolve("tied.gguf");
        try (org.jmoe.format.GgufFile f = org.jmoe.format.GgufFile.open(Reference.model("llama_moe.gguf"))) {
            org.jmoe.format.GgufWriter w = new org.jmoe.format.GgufWriter().putAll(f);
            f.tensors().values().stream().filter(t -> !t.name().equals("output.weight")).forEach(t -> add(w, t.name(), t));
            w.write(p);
        }
        try (Model m = ModelLoader.load(p)) {
            assertThat(m.output()).isSameAs(m.tokenEmbd());
            float[] got = new float[TOKENS.length * m.config().vocab];
            new Forward(m, 32).eval(TOKENS, got, true);
            assertMatches(got, new DoubleForward(m).logits(TOKENS), m.config().vocab);
        }
    }

    @Test
    void graniteMultipliers() {
        check(TestModels.granite(), 11);
    }

    @Test
    void deepseekStyleRoutingWithSharedExpertAndLeadingDenseLayer() {
        check(TestModels.deepseek(), 12);
    }

    @Test
    void qwen2StyleGatedSharedExpert() {
        check(TestModels.qwen2(), 13);
    }

    /** A prompt gives bit-identical logits whether evaluated in one batch, in pieces, or token by token, on 1 or 2 threads. */
    @Test
    void batchInvariance() {
        ModelConfig c = TestModels.deepseek();
        try (Model m = TestModels.build(c, 21)) {
            int V = c.vocab, T = TOKENS.length;
            float[] whole = new float[T * V];
            new Forward(m, 32).eval(TOKENS, whole, true);
            for (int[] split : new int[][]{{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 7}, {5, 5}, {9, 1}}) {
                for (int threads : new int[]{1, 2}) {
                    Forward f = new Forward(m, 32);
                    Parallel pool = new Parallel(threads);
                    f.setPool(pool);
                    float[] got = new float[T * V];
                    int at = 0;
                    for (int n : split) {
                        float[] part = new float[n * V];
                        f.eval(Arrays.copyOfRange(TOKENS, at, at + n), part, true);
                        System.arraycopy(part, 0, got, at * V, n * V);
                        at += n;
                    }
                    pool.close();
                    assertThat(got).as("split %s, %d threads", Arrays.toString(split), threads).containsExactly(whole);
                }
            }
        }
    }
}
