package org.jmoe.moe;

/** Scoring helpers shared by the routers. */
public final class Gating {
    private Gating() {}

    /** {@code p[0..n) = softmax(z[off..off+n))}, max-subtracted, in float like llama.cpp's soft_max. */
    public static void softmax(float[] z, int off, float[] p, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, z[off + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(z[off + i] - max);
            p[i] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < n; i++) p[i] *= inv;
    }

    public static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }

    /**
     * Writes the indices of the {@code k} largest {@code s[e]} with {@code allowed[e]} (all if null) into
     * {@code out}, largest first, ties to the lower index; returns how many were found.
     */
    public static int topK(float[] s, boolean[] allowed, int n, int k, int[] out) {
        int found = 0;
        long taken0 = 0;
        boolean[] taken = n > 64 ? new boolean[n] : null;
        for (int i = 0; i < k; i++) {
            int best = -1;
            for (int e = 0; e < n; e++) {
                if (allowed != null && !allowed[e]) continue;
                if (taken != null ? taken[e] : (taken0 & (1L << e)) != 0) continue;
                if (best < 0 || s[e] > s[best]) best = e;
            }
            if (best < 0) break;
            if (taken != null) taken[best] = true; else taken0 |= 1L << best;
            out[found++] = best;
        }
        return found;
    }

    /** Sum of the {@code k} largest of {@code p[0..n)}. */
    public static float topSum(float[] p, int n, int k) {
        float[] c = java.util.Arrays.copyOf(p, n);
        java.util.Arrays.sort(c);
        float s = 0;
        for (int i = n - 1; i >= Math.max(0, n - k); i--) s += c[i];
        return s;
    }
}
