package org.jmoe.model;

import org.jmoe.moe.Gating;
import org.jmoe.moe.RouterInput;
import org.jmoe.moe.RoutingPlan;
import org.jmoe.tensor.MatMul;
import org.jmoe.tensor.Parallel;
import org.jmoe.tensor.Tensor;

import java.util.Arrays;

/**
 * The per-row arithmetic a layer does the same way whether its rows are one sequence ({@link Forward}) or many
 * ({@link BatchForward}): q/k/v biases, q/k norms and RoPE of a token, the router's input, the weighted combine of
 * expert outputs, the shared expert, and the SwiGLU FFN (with its scratch). One place, so both passes stay
 * bit-identical.
 */
final class LayerMath {
    private LayerMath() {}

    /** Biases, q/k norm and RoPE at {@code pos} for row {@code t} of q ([T x qDim]), k and v ([T x kvDim]). */
    static void prepareQkv(ModelConfig c, LayerWeights w, Rope rope, float[] q, float[] k, float[] v, int t, int pos) {
        int QD = c.qDim(), KD = c.kvDim();
        if (w.bq != null) Ops.add(q, t * QD, w.bq, QD);
        if (w.bk != null) Ops.add(k, t * KD, w.bk, KD);
        if (w.bv != null) Ops.add(v, t * KD, w.bv, KD);
        switch (c.qkNorm) {
            case PER_HEAD -> {
                for (int h = 0; h < c.heads; h++) Ops.rmsnorm(q, t * QD + h * c.headDim, w.qNorm, q, t * QD + h * c.headDim, c.headDim, c.rmsEps);
                for (int h = 0; h < c.kvHeads; h++) Ops.rmsnorm(k, t * KD + h * c.headDim, w.kNorm, k, t * KD + h * c.headDim, c.headDim, c.rmsEps);
            }
            case WHOLE -> {
                Ops.rmsnorm(q, t * QD, w.qNorm, q, t * QD, QD, c.rmsEps);
                Ops.rmsnorm(k, t * KD, w.kNorm, k, t * KD, KD, c.rmsEps);
            }
            case NONE -> { }
        }
        for (int h = 0; h < c.heads; h++) rope.apply(q, t * QD + h * c.headDim, pos);
        for (int h = 0; h < c.kvHeads; h++) rope.apply(k, t * KD + h * c.headDim, pos);
    }

    /** Router logits of T rows of {@code xb} (bias added) into {@code logits}, and the router's input over them. */
    static void routerInput(Parallel pool, ModelConfig c, LayerWeights w, int layer, float[] xb, int T, int[] tokens, float[] logits, RouterInput rin) {
        int H = c.hidden, E = c.experts;
        MatMul.mul(pool, w.router, xb, 0, H, T, logits, 0, E);
        if (w.routerBias != null) for (int t = 0; t < T; t++) Ops.add(logits, t * E, w.routerBias, E);
        rin.logits = logits;
        rin.tokens = T;
        rin.experts = E;
        rin.hidden = xb;
        rin.hiddenDim = H;
        rin.tokenIds = tokens;
        rin.layer = layer;
        rin.selectionBias = w.selectionBias;
        rin.routerScale = w.routerScale;
    }

    /** {@code out[t] = sum over t's slots in routing order of weight · slotOut[row]}, for T rows of width H. */
    static void combine(Parallel pool, RoutingPlan plan, float[] slotOut, float[] out, int T, int H) {
        // tokens in contiguous blocks over the pool; each token's slots summed in routing order whatever the split
        int tasks = Math.min(T, pool.threads() * 4);
        pool.forEach(tasks, (task, worker) -> {
            int t0 = (int) ((long) T * task / tasks), t1 = (int) ((long) T * (task + 1) / tasks);
            Arrays.fill(out, t0 * H, t1 * H, 0f);
            for (int t = t0; t < t1; t++) {
                for (int s = 0; s < plan.k(t); s++) Ops.addScaled(out, t * H, slotOut, plan.row(t, s) * H, H, plan.weight(t, s));
            }
        });
    }

    /** Adds the shared expert's output {@code shOut} to {@code out}, gated per row by sigmoid(gate · x) where it has a gate. */
    static void addShared(LayerWeights w, float[] xb, float[] shOut, float[] out, int T, int H) {
        for (int t = 0; t < T; t++) {
            float g = w.shGateInp == null ? 1f : Gating.sigmoid(Ops.dot(w.shGateInp, 0, xb, t * H, H));
            Ops.addScaled(out, t * H, shOut, t * H, H, g);
        }
    }

    /** The SwiGLU FFN with its scratch: {@code out[t] = down(silu(gate x_t) · up x_t)}. */
    static final class SwiGlu {
        private float[] g = new float[0], u = new float[0];

        void run(Parallel pool, Tensor gate, Tensor up, Tensor down, float[] src, int srcOff, int H, int T, float[] out, int outOff) {
            int F = gate.rows();
            g = Forward.grow(g, T * F);
            u = Forward.grow(u, T * F);
            MatMul.mul(pool, gate, src, srcOff, H, T, g, 0, F);
            MatMul.mul(pool, up, src, srcOff, H, T, u, 0, F);
            for (int i = 0; i < T * F; i++) g[i] = Ops.silu(g[i]) * u[i];
            MatMul.mul(pool, down, g, 0, F, T, out, outOff, H);
        }
    }
}
