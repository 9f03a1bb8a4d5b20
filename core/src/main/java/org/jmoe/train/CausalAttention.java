package org.jmoe.train;

import org.jmoe.model.Ops;
import org.jmoe.tensor.Parallel;

import java.util.Arrays;

/**
 * Causal grouped-query attention over B sequences of T tokens: query head h reads key/value head
 * {@code h / (heads/kvHeads)}; {@code s_j = scale · q·k_j} for j ≤ t, {@code P = softmax(s)}, {@code o = Σ_j P_j v_j}.
 * The probabilities are kept for the backward pass:
 * <pre>
 *   dP_j = do·v_j     dv_j += P_j do     ds_j = P_j (dP_j − Σ_i P_i dP_i)
 *   dq  += scale Σ_j ds_j k_j             dk_j += scale ds_j q
 * </pre>
 * Work is split over (sequence, key/value head), so each task owns the rows of q, k and v gradients it writes.
 */
final class CausalAttention {
    private final int heads, kvHeads, headDim, seqLen;
    private final float scale;

    CausalAttention(int heads, int kvHeads, int headDim, int seqLen) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.seqLen = seqLen;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
    }

    /** Floats of the saved probabilities for B sequences. */
    int probsSize(int batch) { return batch * heads * seqLen * seqLen; }

    void forward(Parallel pool, float[] out, float[] probs, float[] q, float[] k, float[] v, int batch) {
        int T = seqLen, QD = heads * headDim, KD = kvHeads * headDim, group = heads / kvHeads;
        pool.forEach(batch * heads, (task, worker) -> {
            int b = task / heads, h = task % heads, kvh = h / group;
            for (int t = 0; t < T; t++) {
                int qo = (b * T + t) * QD + h * headDim;
                int po = ((b * heads + h) * T + t) * T;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j <= t; j++) {
                    float s = Ops.dot(q, qo, k, (b * T + j) * KD + kvh * headDim, headDim) * scale;
                    probs[po + j] = s;
                    max = Math.max(max, s);
                }
                double sum = 0;
                for (int j = 0; j <= t; j++) {
                    float e = (float) Math.exp(probs[po + j] - max);
                    probs[po + j] = e;
                    sum += e;
                }
                float inv = (float) (1.0 / sum);
                Arrays.fill(out, qo, qo + headDim, 0f);
                for (int j = 0; j <= t; j++) {
                    probs[po + j] *= inv;
                    Ops.axpy(out, qo, v, (b * T + j) * KD + kvh * headDim, probs[po + j], headDim);
                }
            }
        });
    }

    /** Adds the gradients of q, k and v given the output gradient {@code dout}. */
    void backward(Parallel pool, float[] dout, float[] probs, float[] q, float[] k, float[] v,
                  float[] dq, float[] dk, float[] dv, int batch) {
        int T = seqLen, QD = heads * headDim, KD = kvHeads * headDim, group = heads / kvHeads;
        pool.forEach(batch * kvHeads, (task, worker) -> {
            int b = task / kvHeads, kvh = task % kvHeads;
            float[] dp = new float[T];
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int t = 0; t < T; t++) {
                    int qo = (b * T + t) * QD + h * headDim;
                    int po = ((b * heads + h) * T + t) * T;
                    double dot = 0;
                    for (int j = 0; j <= t; j++) {
                        int vo = (b * T + j) * KD + kvh * headDim;
                        dp[j] = Ops.dot(dout, qo, v, vo, headDim);
                        dot += (double) probs[po + j] * dp[j];
                        Ops.axpy(dv, vo, dout, qo, probs[po + j], headDim);
                    }
                    for (int j = 0; j <= t; j++) {
                        float ds = probs[po + j] * (float) (dp[j] - dot) * scale;
                        if (ds == 0f) continue;
                        int ko = (b * T + j) * KD + kvh * headDim;
                        Ops.axpy(dq, qo, k, ko, ds, headDim);
                        Ops.axpy(dk, ko, q, qo, ds, headDim);
                    }
                }
            }
        });
    }
}
