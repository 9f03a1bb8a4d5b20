package org.jmoe.train;

import org.jmoe.JmoeException;

import java.util.List;

/**
 * The shape of a trainable MoE transformer (the Qwen2-MoE family: RMSNorm, GQA with NEOX RoPE, routed SwiGLU
 * experts, an optional shared expert, LM head tied or not) and the batch it trains on.
 *
 * @param seqLen tokens per training sequence (the context the model is trained at)
 * @param batch  sequences per step
 */
public record TrainConfig(int vocab, int hidden, int layers, int heads, int kvHeads, int headDim, int experts, int topK,
                          int expertFfn, int sharedFfn, boolean tied, int seqLen, int batch, double ropeTheta, float rmsEps) {
    public static final List<String> PRESETS = List.of("micro", "tiny", "small");

    public TrainConfig {
        if (hidden < 1 || layers < 1 || heads < 1 || kvHeads < 1 || heads % kvHeads != 0 || headDim < 2 || headDim % 2 != 0) {
            throw new IllegalArgumentException("bad attention shape: hidden " + hidden + ", heads " + heads + "/" + kvHeads + ", head dim " + headDim);
        }
        if (experts < 1 || topK < 1 || topK > experts || expertFfn < 1 || sharedFfn < 0) {
            throw new IllegalArgumentException("bad expert shape: " + experts + " experts, top-" + topK + ", width " + expertFfn);
        }
        if (vocab < 2 || seqLen < 1 || batch < 1) throw new IllegalArgumentException("bad vocab/sequence/batch: " + vocab + "/" + seqLen + "/" + batch);
    }

    /**
     * A preset: micro (seconds, the test suite's), tiny (about a minute on two cores), small. All have 16 experts,
     * top-4. {@code vocab} comes from the tokenizer.
     */
    public static TrainConfig preset(String name, int vocab) {
        return switch (name) {
            case "micro" -> new TrainConfig(vocab, 32, 1, 2, 1, 16, 16, 4, 32, 0, true, 32, 4, 10000, 1e-5f);
            case "tiny" -> new TrainConfig(vocab, 64, 2, 4, 2, 16, 16, 4, 64, 64, true, 64, 8, 10000, 1e-5f);
            case "small" -> new TrainConfig(vocab, 128, 4, 4, 2, 32, 16, 4, 128, 128, false, 128, 8, 10000, 1e-5f);
            default -> throw new JmoeException("--preset", "unknown preset '" + name + "' (one of " + String.join(", ", PRESETS) + ")");
        };
    }

    public int qDim() { return heads * headDim; }

    public int kvDim() { return kvHeads * headDim; }

    /** Tokens per step. */
    public int tokens() { return batch * seqLen; }

    /**
     * Floating-point operations of one training step per token with k experts per token: the matrix products of the
     * forward pass (2 per multiply-add: attention projections, causal attention over (T+1)/2 keys on average, the
     * gate, k routed and the shared expert's SwiGLU, the LM head), times 3 for forward + backward (the backward pass
     * computes two products per forward product).
     */
    public double trainFlopsPerToken(double k) {
        double H = hidden, perLayer = H * (qDim() + 2.0 * kvDim()) + (double) qDim() * H + H * experts
                + k * 3 * H * expertFfn + 3 * H * sharedFfn + 2.0 * qDim() * (seqLen + 1) / 2.0;
        return 3 * 2 * (layers * perLayer + H * vocab);
    }

    public TrainConfig withBatch(int b) {
        return new TrainConfig(vocab, hidden, layers, heads, kvHeads, headDim, experts, topK, expertFfn, sharedFfn, tied, seqLen, b, ropeTheta, rmsEps);
    }

    public TrainConfig withVocab(int v) {
        return new TrainConfig(v, hidden, layers, heads, kvHeads, headDim, experts, topK, expertFfn, sharedFfn, tied, seqLen, batch, ropeTheta, rmsEps);
    }
}
