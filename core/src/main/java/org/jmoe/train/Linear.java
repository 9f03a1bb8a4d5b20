package org.jmoe.train;

import org.jmoe.model.Ops;
import org.jmoe.tensor.Parallel;

/**
 * A linear map without bias, {@code y[n] = W x[n]}, W stored row-major {@code [out][in]} (the layout of a
 * Hugging Face {@code *.weight} and of a GGUF matrix's rows). Every output element is one fixed-order dot product,
 * and every gradient element is accumulated in token order, so results do not depend on the thread count.
 */
final class Linear {
    private Linear() {}

    /** {@code y[yo + n*out + o] = W[wo + o*in ..] · x[xo + n*in ..]} for n in [0, N). */
    static void forward(Parallel pool, float[] y, int yo, float[] x, int xo, float[] w, int wo, int n, int in, int out) {
        pool.forEach(n, (t, worker) -> {
            int xr = xo + t * in, yr = yo + t * out;
            for (int o = 0; o < out; o++) y[yr + o] = Ops.dot(w, wo + o * in, x, xr, in);
        });
    }

    /**
     * Backward of {@link #forward}: {@code dx[n] += W^T dy[n]} (when dx is not null) and {@code dW += dy^T x}.
     * The weight gradient is split over output rows, the input gradient over tokens.
     */
    static void backward(Parallel pool, float[] dy, int dyo, float[] x, int xo, float[] w, int wo, float[] dw, int dwo,
                         float[] dx, int dxo, int n, int in, int out) {
        if (dx != null) {
            pool.forEach(n, (t, worker) -> {
                int dr = dyo + t * out, xr = dxo + t * in;
                for (int o = 0; o < out; o++) {
                    float g = dy[dr + o];
                    if (g != 0f) Ops.axpy(dx, xr, w, wo + o * in, g, in);
                }
            });
        }
        pool.forEach(out, (o, worker) -> {
            int wr = dwo + o * in;
            for (int t = 0; t < n; t++) {
                float g = dy[dyo + t * out + o];
                if (g != 0f) Ops.axpy(dw, wr, x, xo + t * in, g, in);
            }
        });
    }
}
