package org.jmoe.train;

import org.jmoe.tensor.Parallel;

/**
 * A linear map without bias, {@code y[n] = W x[n]}, W stored row-major {@code [out][in]} (the layout of a
 * Hugging Face {@code *.weight} and of a GGUF matrix's rows). The three products are {@link Gemm}'s register-blocked
 * kernels; every output and gradient element is one fixed-order chain of fused multiply-adds (over the input for
 * the forward pass, over the outputs for dx, over the tokens for dW), so results do not depend on the thread count.
 */
final class Linear {
    private Linear() {}

    /** {@code y[yo + n*out + o] = W[wo + o*in ..] · x[xo + n*in ..]} for n in [0, N). */
    static void forward(Parallel pool, float[] y, int yo, float[] x, int xo, float[] w, int wo, int n, int in, int out) {
        Gemm.forwardNT(pool, y, yo, x, xo, w, wo, n, in, out);
    }

    /** Backward of {@link #forward}: {@code dx[n] += W^T dy[n]} (when dx is not null) and {@code dW += dy^T x}. */
    static void backward(Parallel pool, float[] dy, int dyo, float[] x, int xo, float[] w, int wo, float[] dw, int dwo,
                         float[] dx, int dxo, int n, int in, int out) {
        if (dx != null) Gemm.backwardData(pool, dy, dyo, w, wo, dx, dxo, n, in, out);
        Gemm.backwardWeights(pool, dy, dyo, x, xo, dw, dwo, n, in, out);
    }
}
