package org.jmoe.train;

/** The softmax and auxiliary-loss arithmetic the training routers share. */
final class GateMath {
    private GateMath() {}

    /** {@code p = softmax(z)} for row t (n × e layout), max-subtracted, the sum in double. */
    static void softmax(float[] z, float[] p, int t, int e) {
        int o = t * e;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < e; i++) max = Math.max(max, z[o + i]);
        double sum = 0;
        for (int i = 0; i < e; i++) {
            float x = (float) Math.exp(z[o + i] - max);
            p[o + i] = x;
            sum += x;
        }
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < e; i++) p[o + i] *= inv;
    }

    /** Adds {@code dz = p ⊙ (dp − Σ p·dp)} for row t: the softmax Jacobian applied to dp. */
    static void softmaxBackward(float[] p, float[] dp, float[] dz, int t, int e) {
        int o = t * e;
        double dot = 0;
        for (int i = 0; i < e; i++) dot += (double) p[o + i] * dp[i];
        for (int i = 0; i < e; i++) dz[o + i] += p[o + i] * (float) (dp[i] - dot);
    }

    /**
     * Switch-style load-balancing loss {@code α·E·Σ_e f_e·P_e}, {@code f_e} the share of the batch's assignments
     * expert e received and {@code P_e} its mean score. MoGE's global-softmax loss (PAPERS.md §1, f with the
     * N/(K|B|) normalisation) and LocMoE's {@code α n Σ f_i P_i} are this formula. Returns the loss; when
     * {@code dscores} (n × e) is not null adds {@code ∂L/∂p_{t,e} = α·E·f_e / n} (f is a count, not differentiated).
     */
    static double balanceLoss(Routing r, double alpha, float[] dscores) {
        if (alpha == 0) return 0;
        int n = r.n, e = r.experts;
        int[] loads = r.loads();
        int total = 0;
        for (int c : loads) total += c;
        if (total == 0) return 0;
        double loss = 0;
        for (int x = 0; x < e; x++) {
            double f = (double) loads[x] / total;
            double mean = 0;
            for (int t = 0; t < n; t++) mean += r.scores[t * e + x];
            loss += f * mean / n;
            if (dscores != null) {
                float g = (float) (alpha * e * f / n);
                for (int t = 0; t < n; t++) dscores[t * e + x] += g;
            }
        }
        return alpha * e * loss;
    }

    /** Indices of the k largest {@code s[o..o+e)} with {@code allowed} (null: all), largest first, ties to the lower index. */
    static int topK(float[] s, int o, int e, boolean[] allowed, int k, int[] out) {
        int found = 0;
        boolean[] taken = new boolean[e];
        for (int i = 0; i < k; i++) {
            int best = -1;
            for (int x = 0; x < e; x++) {
                if (taken[x] || (allowed != null && !allowed[x])) continue;
                if (best < 0 || s[o + x] > s[o + best]) best = x;
            }
            if (best < 0) break;
            taken[best] = true;
            out[found++] = best;
        }
        return found;
    }
}
