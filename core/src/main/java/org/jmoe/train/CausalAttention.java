package org.jmoe.train;

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
 * Every product is a {@link Gemm} block over 16 query rows at a time, cut at the causal diagonal: S = QKᵀ and O = PV
 * forward, dP = dO·Vᵀ, dV += Pᵀ·dO, dK += dSᵀ·Q and dQ += dS·K backward. The forward pass is split over (sequence,
 * head), the backward pass over (sequence, key/value head), so each task owns the rows of q, k and v gradients it writes.
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

    /** Rows of a causal block: the products of rows [r0, r0+BLOCK) stop at key r0+BLOCK (the rest is masked). */
    private static final int BLOCK = 16;

    void forward(Parallel pool, float[] out, float[] probs, float[] q, float[] k, float[] v, int batch) {
        int T = seqLen, D = headDim, QD = heads * D, KD = kvHeads * D, group = heads / kvHeads;
        pool.forEach(batch * heads, (task, worker) -> {
            int b = task / heads, h = task % heads, kvh = h / group;
            int qo = b * T * QD + h * D, ko = b * T * KD + kvh * D, po = (b * heads + h) * T * T;
            float[] kt = Gemm.transposeStrided(k, ko, T, D, KD); // K_h^T: D × T
            for (int r0 = 0; r0 < T; r0 += BLOCK) {
                int r1 = Math.min(T, r0 + BLOCK);
                // S = Q K^T over keys [0, r1)
                Gemm.block(q, qo, QD, 1, kt, 0, T, probs, po, T, r0, r1, 0, r1, 0, D, true);
                for (int t = r0; t < r1; t++) VecMath.softmaxPrefix(probs, po + t * T, t + 1, scale, T);
                // O = P V over keys [0, r1)
                Gemm.block(probs, po, T, 1, v, ko, KD, out, qo, QD, r0, r1, 0, D, 0, r1, true);
            }
        });
    }

    /** Adds the gradients of q, k and v given the output gradient {@code dout}. */
    void backward(Parallel pool, float[] dout, float[] probs, float[] q, float[] k, float[] v,
                  float[] dq, float[] dk, float[] dv, int batch) {
        int T = seqLen, D = headDim, QD = heads * D, KD = kvHeads * D, group = heads / kvHeads;
        pool.forEach(batch * kvHeads, (task, worker) -> {
            int b = task / kvHeads, kvh = task % kvHeads;
            int ko = b * T * KD + kvh * D;
            float[] vt = Gemm.transposeStrided(v, ko, T, D, KD); // V^T: D × T
            float[] ds = new float[T * T];
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                int qo = b * T * QD + h * D, po = (b * heads + h) * T * T;
                // dP = dO V^T (causal blocks), then dS = P ∘ (dP − Σ_j P dP) · scale, zero above the diagonal
                for (int r0 = 0; r0 < T; r0 += BLOCK) {
                    int r1 = Math.min(T, r0 + BLOCK);
                    Gemm.block(dout, qo, QD, 1, vt, 0, T, ds, 0, T, r0, r1, 0, r1, 0, D, true); // every j ≤ t of these rows
                }
                for (int t = 0; t < T; t++) {
                    double dot = 0;
                    for (int j = 0; j <= t; j++) dot += (double) probs[po + t * T + j] * ds[t * T + j];
                    float d = (float) dot;
                    for (int j = 0; j <= t; j++) ds[t * T + j] = probs[po + t * T + j] * (ds[t * T + j] - d) * scale;
                    Arrays.fill(ds, t * T + t + 1, (t + 1) * T, 0f);
                }
                for (int r0 = 0; r0 < T; r0 += BLOCK) {
                    int r1 = Math.min(T, r0 + BLOCK);
                    // dV[j] += Σ_{t ≥ j} P[t][j] dO[t];  dK[j] += Σ_{t ≥ j} dS[t][j] Q[t]   (rows j of this block)
                    Gemm.block(probs, po, 1, T, dout, qo, QD, dv, ko, KD, r0, r1, 0, D, r0, T, false);
                    Gemm.block(ds, 0, 1, T, q, qo, QD, dk, ko, KD, r0, r1, 0, D, r0, T, false);
                    // dQ[t] += Σ_{j ≤ t} dS[t][j] K[j]
                    Gemm.block(ds, 0, T, 1, k, ko, KD, dq, qo, QD, r0, r1, 0, D, 0, r1, false);
                }
            }
        });
    }
}
