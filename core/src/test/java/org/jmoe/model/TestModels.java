package org.jmoe.model;

import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Small random models built in memory (no file), for tests of architectures the reference folder lacks. */
final class TestModels {
    private TestModels() {}

    static Model build(ModelConfig c, long seed) {
        Arena arena = Arena.ofShared();
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Tensor> all = new LinkedHashMap<>();
        java.util.function.BiFunction<String, long[], Tensor> mk = (name, ne) -> {
            long n = 1;
            for (long d : ne) n *= d;
            double std = 1 / Math.sqrt(ne[0]);
            MemorySegment s = arena.allocate(4 * n, 64);
            for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextGaussian() * std));
            Tensor t = new Tensor(name, DType.F32, ne, s);
            all.put(name, t);
            return t;
        };
        java.util.function.BiFunction<String, Integer, float[]> norm = (name, n) -> {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) (1 + 0.1 * rnd.nextGaussian());
            return v;
        };
        java.util.function.BiFunction<String, Integer, float[]> small = (name, n) -> {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) (0.1 * rnd.nextGaussian());
            return v;
        };
        Tensor embd = mk.apply("token_embd", new long[]{c.hidden, c.vocab});
        Tensor out = mk.apply("output", new long[]{c.hidden, c.vocab});
        LayerWeights[] ls = new LayerWeights[c.layers];
        for (int l = 0; l < c.layers; l++) {
            LayerWeights w = new LayerWeights();
            String b = "blk." + l + ".";
            w.attnNorm = norm.apply(b + "attn_norm", c.hidden);
            w.wq = mk.apply(b + "q", new long[]{c.hidden, c.qDim()});
            w.wk = mk.apply(b + "k", new long[]{c.hidden, c.kvDim()});
            w.wv = mk.apply(b + "v", new long[]{c.hidden, c.kvDim()});
            w.wo = mk.apply(b + "o", new long[]{c.qDim(), c.hidden});
            w.ffnNorm = norm.apply(b + "ffn_norm", c.hidden);
            if (c.isMoeLayer(l)) {
                w.router = mk.apply(b + "router", new long[]{c.hidden, c.experts});
                if (c.gating == ModelConfig.Gating.SIGMOID) w.selectionBias = small.apply(b + "bias", c.experts);
                w.expGate = new Tensor[c.experts];
                w.expUp = new Tensor[c.experts];
                w.expDown = new Tensor[c.experts];
                for (int e = 0; e < c.experts; e++) {
                    w.expGate[e] = mk.apply(b + "g" + e, new long[]{c.hidden, c.expertFfn});
                    w.expUp[e] = mk.apply(b + "u" + e, new long[]{c.hidden, c.expertFfn});
                    w.expDown[e] = mk.apply(b + "d" + e, new long[]{c.expertFfn, c.hidden});
                }
                if (c.sharedFfn > 0) {
                    w.shGate = mk.apply(b + "sg", new long[]{c.hidden, c.sharedFfn});
                    w.shUp = mk.apply(b + "su", new long[]{c.hidden, c.sharedFfn});
                    w.shDown = mk.apply(b + "sd", new long[]{c.sharedFfn, c.hidden});
                    if (c.sharedGate == ModelConfig.SharedGate.SIGMOID) w.shGateInp = small.apply(b + "sgi", c.hidden);
                }
            } else {
                w.ffnGate = mk.apply(b + "fg", new long[]{c.hidden, c.denseFfn});
                w.ffnUp = mk.apply(b + "fu", new long[]{c.hidden, c.denseFfn});
                w.ffnDown = mk.apply(b + "fd", new long[]{c.denseFfn, c.hidden});
            }
            ls[l] = w;
        }
        return new Model(Path.of("memory"), c, embd, norm.apply("out_norm", c.hidden), out, ls, null, all, arena::close);
    }

    static ModelConfig base(String arch) {
        ModelConfig c = new ModelConfig();
        c.arch = arch;
        c.archDisplay = arch;
        c.hidden = 64;
        c.layers = 2;
        c.heads = 4;
        c.kvHeads = 2;
        c.headDim = 16;
        c.ropeDim = 16;
        c.vocab = 96;
        c.rmsEps = 1e-5f;
        c.ropeTheta = 10000;
        c.experts = 16;
        c.expertsUsed = 4;
        c.expertFfn = 32;
        return c;
    }

    /** Granite-MoE: embedding, residual, attention and logit multipliers; softmax top-k renormalised. */
    static ModelConfig granite() {
        ModelConfig c = base("granitemoe");
        c.embeddingScale = 12f;
        c.residualScale = 0.22f;
        c.attentionScale = 0.0078125f;
        c.logitScale = 8f;
        c.normTopK = true;
        return c;
    }

    /** DeepSeek-V3-style routing: sigmoid scores, selection bias, 4 groups keep 2, renormalised, scaled by 2.5, shared expert, one leading dense layer. */
    static ModelConfig deepseek() {
        ModelConfig c = base("deepseek");
        c.layers = 3;
        c.leadingDenseLayers = 1;
        c.denseFfn = 96;
        c.gating = ModelConfig.Gating.SIGMOID;
        c.routing = ModelConfig.Routing.GROUP_LIMITED;
        c.groups = 4;
        c.groupsUsed = 2;
        c.normTopK = true;
        c.weightsScale = 2.5f;
        c.sharedFfn = 48;
        return c;
    }

    /** Qwen2-MoE-style: not renormalised, sigmoid-gated shared expert, NEOX RoPE. */
    static ModelConfig qwen2() {
        ModelConfig c = base("qwen2moe");
        c.ropeType = ModelConfig.RopeType.NEOX;
        c.sharedFfn = 48;
        c.sharedGate = ModelConfig.SharedGate.SIGMOID;
        return c;
    }
}
