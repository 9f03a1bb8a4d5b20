package org.jmoe.train;

import org.jmoe.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** Every layer's backward pass against central finite differences of its forward pass (tolerance: {@link GradCheck}). */
class LayerGradientTest {
    private final Parallel pool = Parallel.SERIAL;

    @Test
    void linear() {
        SplittableRandom r = new SplittableRandom(1);
        int n = 3, in = 5, out = 4;
        float[] x = GradCheck.random(r, n * in, 1), w = GradCheck.random(r, out * in, 1), proj = GradCheck.random(r, n * out, 1);
        float[] y = new float[n * out];
        java.util.function.DoubleSupplier loss = () -> {
            Linear.forward(pool, y, 0, x, 0, w, 0, n, in, out);
            return GradCheck.project(y, proj, n * out);
        };
        float[] dx = new float[n * in], dw = new float[out * in];
        Linear.backward(pool, proj, 0, x, 0, w, 0, dw, 0, dx, 0, n, in, out);
        GradCheck.check("dx", x, dx, loss, 0, r);
        GradCheck.check("dW", w, dw, loss, 0, r);
    }

    @Test
    void linearGradientsDoNotDependOnTheThreadCount() {
        SplittableRandom r = new SplittableRandom(2);
        int n = 7, in = 19, out = 11;
        float[] x = GradCheck.random(r, n * in, 1), w = GradCheck.random(r, out * in, 1), dy = GradCheck.random(r, n * out, 1);
        float[] dx1 = new float[n * in], dw1 = new float[out * in], dx2 = new float[n * in], dw2 = new float[out * in];
        Linear.backward(Parallel.SERIAL, dy, 0, x, 0, w, 0, dw1, 0, dx1, 0, n, in, out);
        try (Parallel two = new Parallel(2)) {
            Linear.backward(two, dy, 0, x, 0, w, 0, dw2, 0, dx2, 0, n, in, out);
        }
        assertThat(dx2).isEqualTo(dx1);
        assertThat(dw2).isEqualTo(dw1);
    }

    @Test
    void linearForwardIsOneFixedOrderFmaChainPerOutput() {
        SplittableRandom r = new SplittableRandom(9);
        int n = 3, in = 21, out = 7; // a row tail and a block of fewer than four rows
        float[] x = GradCheck.random(r, n * in, 1), w = GradCheck.random(r, out * in, 1), y = new float[n * out];
        Linear.forward(pool, y, 0, x, 0, w, 0, n, in, out);
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < out; o++) {
                float s = 0f; // y = fma(x_i, w_i, y) for i = 0, 1, ..., in-1 (Gemm's chain)
                for (int i = 0; i < in; i++) s = Math.fma(x[t * in + i], w[o * in + i], s);
                assertThat(y[t * out + o]).isEqualTo(s);
            }
        }
    }

    @Test
    void rmsNorm() {
        SplittableRandom r = new SplittableRandom(3);
        int n = 3, d = 8;
        float[] x = GradCheck.random(r, n * d, 1), w = GradCheck.random(r, d, 1), proj = GradCheck.random(r, n * d, 1);
        float[] y = new float[n * d], rstd = new float[n];
        java.util.function.DoubleSupplier loss = () -> {
            RmsNorm.forward(y, x, w, 0, rstd, n, d, 1e-5f);
            return GradCheck.project(y, proj, n * d);
        };
        loss.getAsDouble();
        float[] dx = new float[n * d], dw = new float[d];
        RmsNorm.backward(dx, dw, 0, proj, x, w, 0, rstd, n, d);
        GradCheck.check("dx", x, dx, loss, 0, r);
        GradCheck.check("dw", w, dw, loss, 0, r);
    }

    @Test
    void rope() {
        SplittableRandom r = new SplittableRandom(4);
        int hd = 8, heads = 2;
        RotaryEmbedding rope = new RotaryEmbedding(hd, 10000, 16);
        float[] x = GradCheck.random(r, heads * hd, 1), proj = GradCheck.random(r, heads * hd, 1);
        java.util.function.DoubleSupplier loss = () -> {
            float[] y = x.clone();
            rope.rotate(y, 0, heads, 7, 1);
            return GradCheck.project(y, proj, y.length);
        };
        float[] dx = proj.clone();
        rope.rotate(dx, 0, heads, 7, -1);
        GradCheck.check("dx", x, dx, loss, 0, r);
        // Rotation then its inverse is the identity.
        float[] y = x.clone();
        rope.rotate(y, 0, heads, 5, 1);
        rope.rotate(y, 0, heads, 5, -1);
        for (int i = 0; i < y.length; i++) assertThat((double) y[i]).isCloseTo(x[i], org.assertj.core.api.Assertions.within(1e-5));
    }

    @Test
    void causalGroupedQueryAttention() {
        SplittableRandom r = new SplittableRandom(5);
        int B = 2, T = 5, heads = 4, kvHeads = 2, hd = 4;
        CausalAttention att = new CausalAttention(heads, kvHeads, hd, T);
        int N = B * T, QD = heads * hd, KD = kvHeads * hd;
        float[] q = GradCheck.random(r, N * QD, 1), k = GradCheck.random(r, N * KD, 1), v = GradCheck.random(r, N * KD, 1);
        float[] proj = GradCheck.random(r, N * QD, 1), out = new float[N * QD], probs = new float[att.probsSize(B)];
        java.util.function.DoubleSupplier loss = () -> {
            att.forward(pool, out, probs, q, k, v, B);
            return GradCheck.project(out, proj, out.length);
        };
        loss.getAsDouble();
        float[] dq = new float[N * QD], dk = new float[N * KD], dv = new float[N * KD];
        att.backward(pool, proj, probs, q, k, v, dq, dk, dv, B);
        GradCheck.check("dq", q, dq, loss, 0, r);
        GradCheck.check("dk", k, dk, loss, 0, r);
        GradCheck.check("dv", v, dv, loss, 0, r);
        // Causality: the first token's output depends only on the first token.
        float[] before = out.clone();
        k[(T - 1) * KD] += 5;
        v[(T - 1) * KD] += 5;
        att.forward(pool, out, probs, q, k, v, B);
        for (int i = 0; i < QD; i++) assertThat(out[i]).isEqualTo(before[i]);
    }

    @Test
    void swiglu() {
        SplittableRandom r = new SplittableRandom(6);
        int n = 3, d = 6, f = 5;
        SwiGlu.Weights w = new SwiGlu.Weights(0, f * d, 2 * f * d, d, f);
        float[] p = GradCheck.random(r, 3 * f * d, 0.7), x = GradCheck.random(r, n * d, 1), proj = GradCheck.random(r, n * d, 1);
        float[] g = new float[n * f], u = new float[n * f], h = new float[n * f], y = new float[n * d];
        java.util.function.DoubleSupplier loss = () -> {
            SwiGlu.forward(pool, p, w, x, 0, g, u, h, 0, y, 0, n);
            return GradCheck.project(y, proj, y.length);
        };
        loss.getAsDouble();
        float[] dp = new float[p.length], dx = new float[x.length];
        SwiGlu.backward(pool, p, dp, w, x, 0, g, u, h, 0, proj, 0, dx, 0, new float[n * f], new float[n * f], n);
        GradCheck.check("dx", x, dx, loss, 0, r);
        GradCheck.check("dW", p, dp, loss, 0, r);
    }

    @Test
    void crossEntropy() {
        SplittableRandom r = new SplittableRandom(7);
        int n = 4, v = 6;
        float[] z = GradCheck.random(r, n * v, 2);
        int[] y = {0, 5, 2, 2};
        float[] dz = new float[n * v];
        double l = CrossEntropy.lossAndGrad(z, y, n, v, dz);
        GradCheck.check("dz", z, dz, () -> CrossEntropy.lossAndGrad(z, y, n, v, null), 0, r);
        double[] lp = new double[n];
        CrossEntropy.targetLogProbs(z, y, n, v, lp);
        assertThat(-(lp[0] + lp[1] + lp[2] + lp[3]) / n).isCloseTo(l, org.assertj.core.api.Assertions.within(1e-9));
    }

    @Test
    void embedding() {
        SplittableRandom r = new SplittableRandom(8);
        int v = 5, d = 3;
        float[] table = GradCheck.random(r, v * d, 1), proj = GradCheck.random(r, 4 * d, 1), x = new float[4 * d];
        int[] tokens = {1, 4, 1, 0};
        java.util.function.DoubleSupplier loss = () -> {
            Embedding.forward(x, table, 0, tokens, 4, d);
            return GradCheck.project(x, proj, x.length);
        };
        float[] dt = new float[v * d];
        Embedding.backward(dt, 0, proj, tokens, 4, d);
        GradCheck.check("dE", table, dt, loss, 0, r);
    }
}
