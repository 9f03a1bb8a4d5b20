package org.jmoe.train;

/**
 * RMSNorm over rows of width {@code d}: {@code y = x · r · w} with {@code r = 1/sqrt(mean(x²) + eps)}, the sum of
 * squares in double as the inference pass ({@code Ops.rmsnorm}) computes it.
 *
 * <p>Backward, with {@code g = dy ⊙ w}: {@code dx = r·g − x · r³/d · Σ(g ⊙ x)} and {@code dw += dy ⊙ x · r}.
 */
final class RmsNorm {
    private RmsNorm() {}

    /** Normalises N rows; saves each row's r in {@code rstd[n]}. */
    static void forward(float[] y, float[] x, float[] w, int wo, float[] rstd, int n, int d, float eps) {
        for (int t = 0; t < n; t++) {
            int o = t * d;
            double ss = 0;
            for (int i = 0; i < d; i++) ss += (double) x[o + i] * x[o + i];
            float r = (float) (1.0 / Math.sqrt((float) (ss / d) + eps));
            rstd[t] = r;
            for (int i = 0; i < d; i++) y[o + i] = (x[o + i] * r) * w[wo + i];
        }
    }

    /** Adds the gradients of N rows to {@code dx} and {@code dw}. */
    static void backward(float[] dx, float[] dw, int dwo, float[] dy, float[] x, float[] w, int wo, float[] rstd, int n, int d) {
        for (int t = 0; t < n; t++) {
            int o = t * d;
            float r = rstd[t];
            double dot = 0;
            for (int i = 0; i < d; i++) dot += (double) dy[o + i] * w[wo + i] * x[o + i];
            float c = (float) (dot * r * r * r / d);
            for (int i = 0; i < d; i++) {
                dx[o + i] += r * dy[o + i] * w[wo + i] - c * x[o + i];
                dw[dwo + i] += dy[o + i] * x[o + i] * r;
            }
        }
    }
}
