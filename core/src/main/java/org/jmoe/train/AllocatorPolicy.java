package org.jmoe.train;

import org.jmoe.moe.AdaKAllocators;

/**
 * The Ada-K allocators being trained: per MoE layer {@code P(n | x) = softmax(W x)}, n = 1..N, {@code W ∈ R^{N×H}}
 * (no bias), each layer with its own AdamW state. Two updates:
 * <ul>
 *   <li>warm start — cross-entropy towards the pseudo-label y: {@code ∂/∂a = P − onehot(y)};</li>
 *   <li>PPO-clip with the expected-k cost, per sample of (x, k, log π_old(k), advantage A):
 *   <pre>
 *   L = −min(ρA, clip(ρ, 1−ε, 1+ε)A) + (λ/L_moe)·Σ_n n·P(n),   ρ = π(k|x)/π_old(k|x)
 *   ∂L/∂a = −A·ρ·(onehot(k) − P)   when the unclipped term is the minimum, else 0
 *         + (λ/L_moe)·P ⊙ (n − E_P[n])
 *   </pre></li>
 * </ul>
 * Gradients are means over the samples; {@code ∂L/∂W = Σ ∂L/∂a ⊗ x}.
 */
final class AllocatorPolicy {
    final int experts, hidden;
    final float[][] w;
    private final AdamW[] opt;
    private final int moeLayers;

    AllocatorPolicy(boolean[] moe, int experts, int hidden, double weightDecay) {
        this.experts = experts;
        this.hidden = hidden;
        this.w = new float[moe.length][];
        this.opt = new AdamW[moe.length];
        int n = 0;
        for (int l = 0; l < moe.length; l++) {
            if (!moe[l]) continue;
            w[l] = new float[experts * hidden];
            opt[l] = new AdamW(experts * hidden, 0.9, 0.999, 1e-8, weightDecay);
            n++;
        }
        this.moeLayers = n;
    }

    /** {@code out = softmax(W_l x[xo..])}. */
    void probs(int l, float[] x, int xo, float[] out) {
        float[] wl = w[l];
        for (int n = 0; n < experts; n++) {
            float acc = 0;
            for (int i = 0; i < hidden; i++) acc += wl[n * hidden + i] * x[xo + i];
            out[n] = acc;
        }
        org.jmoe.moe.Gating.softmax(out, 0, out, experts);
    }

    /** One full-batch warm-start step on {@code rows} samples of layer l; returns the mean cross-entropy. */
    double warmStep(int l, float[] xs, int[] labels, int rows, double lr) {
        float[] g = new float[experts * hidden];
        double loss = warmGrad(l, xs, labels, rows, g);
        opt[l].step(w[l], g, lr);
        return loss;
    }

    /** The warm-start loss of layer l and its gradient (added to g). */
    double warmGrad(int l, float[] xs, int[] labels, int rows, float[] g) {
        float[] p = new float[experts];
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            probs(l, xs, r * hidden, p);
            loss -= Math.log(Math.max(p[labels[r] - 1], 1e-30));
            for (int n = 0; n < experts; n++) {
                float d = (p[n] - (n == labels[r] - 1 ? 1f : 0f)) / rows;
                if (d != 0f) org.jmoe.model.Ops.axpy(g, n * hidden, xs, r * hidden, d, hidden);
            }
        }
        return loss / rows;
    }

    /** One full-batch PPO step on layer l's samples; returns the mean loss. */
    double ppoStep(int l, float[] xs, int[] ks, double[] logpOld, double[] adv, int rows, double clip, double lambda, double lr) {
        float[] g = new float[experts * hidden];
        double loss = ppoGrad(l, xs, ks, logpOld, adv, rows, clip, lambda, g);
        opt[l].step(w[l], g, lr);
        return loss;
    }

    /** The PPO loss of layer l and its gradient (added to g). */
    double ppoGrad(int l, float[] xs, int[] ks, double[] logpOld, double[] adv, int rows, double clip, double lambda, float[] g) {
        float[] p = new float[experts], da = new float[experts];
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            probs(l, xs, r * hidden, p);
            int k = ks[r] - 1;
            double ratio = Math.exp(Math.log(Math.max(p[k], 1e-30)) - logpOld[r]);
            double a = adv[r];
            double unclipped = ratio * a, clipped = Math.max(1 - clip, Math.min(1 + clip, ratio)) * a;
            double mean = 0;
            for (int n = 0; n < experts; n++) mean += (n + 1) * p[n];
            loss += -Math.min(unclipped, clipped) + lambda / moeLayers * mean;
            boolean active = unclipped <= clipped;
            for (int n = 0; n < experts; n++) {
                double d = lambda / moeLayers * p[n] * ((n + 1) - mean);
                if (active) d -= a * ratio * ((n == k ? 1 : 0) - p[n]);
                da[n] = (float) (d / rows);
            }
            for (int n = 0; n < experts; n++) if (da[n] != 0f) org.jmoe.model.Ops.axpy(g, n * hidden, xs, r * hidden, da[n], hidden);
        }
        return loss / rows;
    }

    AdaKAllocators toAllocators() {
        float[][] copy = new float[w.length][];
        for (int l = 0; l < w.length; l++) copy[l] = w[l] == null ? null : w[l].clone();
        return new AdaKAllocators(experts, hidden, copy);
    }
}
