package org.jmoe.train;

import org.jmoe.tensor.Parallel;

/**
 * The SwiGLU feed-forward of an expert: {@code g = Wg x}, {@code u = Wu x}, {@code h = silu(g) ⊙ u}, {@code y = Wd h}.
 * Backward: {@code dh = Wd^T dy}, {@code dg = dh ⊙ u ⊙ silu'(g)} with {@code silu'(g) = σ(g)(1 + g(1 − σ(g)))},
 * {@code du = dh ⊙ silu(g)}, {@code dx = Wg^T dg + Wu^T du}. Weights are addressed by offsets into one parameter
 * array (and its gradient), activations by row offsets into caller-owned buffers.
 */
final class SwiGlu {
    private SwiGlu() {}

    /** Offsets of one FFN's three matrices: gate and up {@code [f][d]}, down {@code [d][f]}. */
    record Weights(int gate, int up, int down, int d, int f) { }

    static void forward(Parallel pool, float[] p, Weights w, float[] x, int xo, float[] g, float[] u, float[] h, int ho,
                        float[] y, int yo, int n) {
        Linear.forward(pool, g, ho, x, xo, p, w.gate(), n, w.d(), w.f());
        Linear.forward(pool, u, ho, x, xo, p, w.up(), n, w.d(), w.f());
        for (int i = ho; i < ho + n * w.f(); i++) h[i] = silu(g[i]) * u[i];
        Linear.forward(pool, y, yo, h, ho, p, w.down(), n, w.f(), w.d());
    }

    /** Adds parameter gradients to {@code dp} and input gradients to {@code dx}; {@code dh} is scratch of n·f floats at ho. */
    static void backward(Parallel pool, float[] p, float[] dp, Weights w, float[] x, int xo, float[] g, float[] u, float[] h,
                         int ho, float[] dy, int dyo, float[] dx, int dxo, float[] dh, float[] dg, int n) {
        int f = w.f();
        java.util.Arrays.fill(dh, ho, ho + n * f, 0f);
        Linear.backward(pool, dy, dyo, h, ho, p, w.down(), dp, w.down(), dh, ho, n, f, w.d());
        for (int i = ho; i < ho + n * f; i++) {
            float sg = sigmoid(g[i]);
            float silu = g[i] * sg;
            dg[i] = dh[i] * u[i] * sg * (1f + g[i] * (1f - sg));
            dh[i] = dh[i] * silu; // now du
        }
        Linear.backward(pool, dg, ho, x, xo, p, w.gate(), dp, w.gate(), dx, dxo, n, w.d(), f);
        Linear.backward(pool, dh, ho, x, xo, p, w.up(), dp, w.up(), dx, dxo, n, w.d(), f);
    }

    static float sigmoid(float v) {
        return (float) (1.0 / (1.0 + Math.exp(-v)));
    }

    static float silu(float v) {
        return v * sigmoid(v);
    }
}
