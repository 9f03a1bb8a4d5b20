package org.jmoe.train;

import org.jmoe.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Gemm}'s three products against a plain triple loop in double precision, on random shapes that are mostly not
 * multiples of the vector width, the micro-tile or the cache blocks, at offsets inside larger arrays.
 */
class GemmTest {
    /**
     * Each element is a chain of K float fused multiply-adds started from C's value; the rounding error of such a chain
     * is at most {@code γ_K·(|c| + Σ_k |a_k b_k|)} with {@code γ_K = K·u/(1 − K·u)}, u = 2^-24 (Higham, Accuracy and
     * Stability of Numerical Algorithms, §3.1). The bound is checked per element with that magnitude.
     */
    private static void assertClose(String what, float[] got, int go, double[] want, double[] mag, int count, int k) {
        double u = Math.ulp(1f) / 2, gamma = (k + 1) * u / (1 - (k + 1) * u);
        for (int i = 0; i < count; i++) {
            double err = Math.abs(got[go + i] - want[i]);
            assertThat(err).as("%s element %d: %s vs %s", what, i, got[go + i], want[i]).isLessThanOrEqualTo(gamma * mag[i] + 1e-30);
        }
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }

    @Test
    void threeProductsMatchADoubleTripleLoopOnRaggedShapes() {
        SplittableRandom r = new SplittableRandom(7);
        int[][] shapes = {{1, 1, 1}, {3, 5, 4}, {7, 19, 11}, {4, 16, 16}, {5, 17, 33}, {13, 64, 64}, {9, 31, 70},
                {64, 128, 2048 / 8}, {33, 300, 65}, {130, 47, 259}, {2, 520, 3}};
        try (Parallel two = new Parallel(2)) {
            for (int[] s : shapes) {
                int n = s[0], in = s[1], out = s[2];
                for (Parallel pool : new Parallel[]{Parallel.SERIAL, two}) check(r, pool, n, in, out);
            }
            for (int trial = 0; trial < 12; trial++) check(r, two, 1 + r.nextInt(90), 1 + r.nextInt(300), 1 + r.nextInt(300));
        }
    }

    private static void check(SplittableRandom r, Parallel pool, int n, int in, int out) {
        int off = r.nextInt(5);
        float[] x = random(r, off + n * in + 3), w = random(r, off + out * in + 2), dy = random(r, off + n * out + 1);
        // forward: y = x W^T, overwriting y
        float[] y = random(r, off + n * out);
        Gemm.forwardNT(pool, y, off, x, off, w, off, n, in, out);
        double[] want = new double[n * out], mag = new double[n * out];
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    double p = (double) x[off + t * in + i] * w[off + o * in + i];
                    want[t * out + o] += p;
                    mag[t * out + o] += Math.abs(p);
                }
            }
        }
        assertClose("y " + n + "x" + in + "x" + out, y, off, want, mag, n * out, in);
        // dx += dy W, onto a non-zero dx
        float[] dx = random(r, off + n * in);
        want = new double[n * in];
        mag = new double[n * in];
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < in; i++) {
                want[t * in + i] = dx[off + t * in + i];
                mag[t * in + i] = Math.abs(dx[off + t * in + i]);
                for (int o = 0; o < out; o++) {
                    double p = (double) dy[off + t * out + o] * w[off + o * in + i];
                    want[t * in + i] += p;
                    mag[t * in + i] += Math.abs(p);
                }
            }
        }
        Gemm.backwardData(pool, dy, off, w, off, dx, off, n, in, out);
        assertClose("dx " + n + "x" + in + "x" + out, dx, off, want, mag, n * in, out);
        // dW += dy^T x, onto a non-zero dW
        float[] dw = random(r, off + out * in);
        want = new double[out * in];
        mag = new double[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                want[o * in + i] = dw[off + o * in + i];
                mag[o * in + i] = Math.abs(dw[off + o * in + i]);
                for (int t = 0; t < n; t++) {
                    double p = (double) dy[off + t * out + o] * x[off + t * in + i];
                    want[o * in + i] += p;
                    mag[o * in + i] += Math.abs(p);
                }
            }
        }
        Gemm.backwardWeights(pool, dy, off, x, off, dw, off, n, in, out);
        assertClose("dW " + n + "x" + in + "x" + out, dw, off, want, mag, out * in, n);
    }

    @Test
    void resultsAreBitIdenticalForAnyThreadCountAndMatchOneFmaChainPerElement() {
        SplittableRandom r = new SplittableRandom(11);
        // K past one cache block (KC), N past one column block (NC), M not a multiple of the micro-tile.
        int M = 37, N = Gemm.NC + 2 * Gemm.L + 5, K = Gemm.KC + 45;
        float[] a = random(r, M * K), b = random(r, K * N), c0 = random(r, M * N);
        float[] serial = c0.clone();
        Gemm.gemm(Parallel.SERIAL, a, 0, K, 1, b, 0, N, serial, 0, N, M, N, K, false);
        for (int threads : new int[]{2, 3, 5}) {
            try (Parallel pool = new Parallel(threads)) {
                float[] c = c0.clone();
                Gemm.gemm(pool, a, 0, K, 1, b, 0, N, c, 0, N, M, N, K, false);
                assertThat(c).as("%d threads", threads).isEqualTo(serial);
            }
        }
        // The documented chain, written out in scalars: c = fma(a_k, b_k, c) for k in order.
        for (int m = 0; m < M; m++) {
            for (int j = 0; j < N; j++) {
                float s = c0[m * N + j];
                for (int k = 0; k < K; k++) s = Math.fma(a[m * K + k], b[k * N + j], s);
                assertThat(serial[m * N + j]).as("(%d, %d)", m, j).isEqualTo(s);
            }
        }
    }
}
