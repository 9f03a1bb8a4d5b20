package org.jmoe.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Register-blocked F32 kernels for {@code y[t][r] = W[r]·x[t]}. Every output keeps the canonical order of
 * {@link MatMul#dotF32}: one 8-lane accumulator, FMAs in k order, {@link MatMul#sumLanes}, then the scalar
 * tail. Tiles only decide how many outputs share each load: 3 rows x 4 tokens (12 accumulators) for
 * prefill, 4 rows x 1 token for decode; edges fall back to smaller tiles with the same per-output order.
 */
final class F32Kernels {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    private static final int L = 8;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private F32Kernels() {}

    /** Rows [r0, r1) x all T tokens. */
    static void rows(MemorySegment w, long rowBytes, float[] x, int xOff, int xStride, int T,
                     float[] y, int yOff, int yStride, int r0, int r1, int n) {
        int r = r0;
        if (T == 1) {
            for (; r + 4 <= r1; r += 4) k4x1(w, r * rowBytes, rowBytes, x, xOff, y, yOff + r, n);
            for (; r < r1; r++) y[yOff + r] = MatMul.dotF32(w, r * rowBytes, x, xOff, n);
            return;
        }
        for (; r + 3 <= r1; r += 3) {
            int t = 0;
            for (; t + 4 <= T; t += 4) k3x4(w, r * rowBytes, rowBytes, x, xOff + t * xStride, xStride, y, yOff + t * yStride + r, yStride, n);
            for (; t < T; t++) {
                for (int i = 0; i < 3; i++) y[yOff + t * yStride + r + i] = MatMul.dotF32(w, (r + i) * rowBytes, x, xOff + t * xStride, n);
            }
        }
        for (; r < r1; r++) {
            int t = 0;
            for (; t + 4 <= T; t += 4) k1x4(w, r * rowBytes, x, xOff + t * xStride, xStride, y, yOff + t * yStride + r, yStride, n);
            for (; t < T; t++) y[yOff + t * yStride + r] = MatMul.dotF32(w, r * rowBytes, x, xOff + t * xStride, n);
        }
    }

    private static float tail(MemorySegment w, long base, float[] x, int xo, int k, int n, float s) {
        for (; k < n; k++) s = Math.fma(w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, base + 4L * k), x[xo + k], s);
        return s;
    }

    private static void k4x1(MemorySegment w, long b0, long rb, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long b1 = b0 + rb, b2 = b1 + rb, b3 = b2 + rb;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + k);
            long o = 4L * k;
            a0 = FloatVector.fromMemorySegment(F, w, b0 + o, LE).fma(xv, a0);
            a1 = FloatVector.fromMemorySegment(F, w, b1 + o, LE).fma(xv, a1);
            a2 = FloatVector.fromMemorySegment(F, w, b2 + o, LE).fma(xv, a2);
            a3 = FloatVector.fromMemorySegment(F, w, b3 + o, LE).fma(xv, a3);
        }
        y[yo] = tail(w, b0, x, xo, k, n, MatMul.sumLanes(a0));
        y[yo + 1] = tail(w, b1, x, xo, k, n, MatMul.sumLanes(a1));
        y[yo + 2] = tail(w, b2, x, xo, k, n, MatMul.sumLanes(a2));
        y[yo + 3] = tail(w, b3, x, xo, k, n, MatMul.sumLanes(a3));
    }

    private static void k3x4(MemorySegment w, long b0, long rb, float[] x, int xo, int xs, float[] y, int yo, int ys, int n) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        long b1 = b0 + rb, b2 = b1 + rb;
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs, x3 = x2 + xs;
        int k = 0;
        for (; k <= n - L; k += L) {
            long o = 4L * k;
            FloatVector w0 = FloatVector.fromMemorySegment(F, w, b0 + o, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, w, b1 + o, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, w, b2 + o, LE);
            FloatVector v = FloatVector.fromArray(F, x, x0 + k);
            c00 = w0.fma(v, c00); c10 = w1.fma(v, c10); c20 = w2.fma(v, c20);
            v = FloatVector.fromArray(F, x, x1 + k);
            c01 = w0.fma(v, c01); c11 = w1.fma(v, c11); c21 = w2.fma(v, c21);
            v = FloatVector.fromArray(F, x, x2 + k);
            c02 = w0.fma(v, c02); c12 = w1.fma(v, c12); c22 = w2.fma(v, c22);
            v = FloatVector.fromArray(F, x, x3 + k);
            c03 = w0.fma(v, c03); c13 = w1.fma(v, c13); c23 = w2.fma(v, c23);
        }
        y[yo] = tail(w, b0, x, x0, k, n, MatMul.sumLanes(c00));
        y[yo + 1] = tail(w, b1, x, x0, k, n, MatMul.sumLanes(c10));
        y[yo + 2] = tail(w, b2, x, x0, k, n, MatMul.sumLanes(c20));
        y[yo + ys] = tail(w, b0, x, x1, k, n, MatMul.sumLanes(c01));
        y[yo + ys + 1] = tail(w, b1, x, x1, k, n, MatMul.sumLanes(c11));
        y[yo + ys + 2] = tail(w, b2, x, x1, k, n, MatMul.sumLanes(c21));
        y[yo + 2 * ys] = tail(w, b0, x, x2, k, n, MatMul.sumLanes(c02));
        y[yo + 2 * ys + 1] = tail(w, b1, x, x2, k, n, MatMul.sumLanes(c12));
        y[yo + 2 * ys + 2] = tail(w, b2, x, x2, k, n, MatMul.sumLanes(c22));
        y[yo + 3 * ys] = tail(w, b0, x, x3, k, n, MatMul.sumLanes(c03));
        y[yo + 3 * ys + 1] = tail(w, b1, x, x3, k, n, MatMul.sumLanes(c13));
        y[yo + 3 * ys + 2] = tail(w, b2, x, x3, k, n, MatMul.sumLanes(c23));
    }

    private static void k1x4(MemorySegment w, long b0, float[] x, int xo, int xs, float[] y, int yo, int ys, int n) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs, x3 = x2 + xs;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector wv = FloatVector.fromMemorySegment(F, w, b0 + 4L * k, LE);
            c0 = wv.fma(FloatVector.fromArray(F, x, x0 + k), c0);
            c1 = wv.fma(FloatVector.fromArray(F, x, x1 + k), c1);
            c2 = wv.fma(FloatVector.fromArray(F, x, x2 + k), c2);
            c3 = wv.fma(FloatVector.fromArray(F, x, x3 + k), c3);
        }
        y[yo] = tail(w, b0, x, x0, k, n, MatMul.sumLanes(c0));
        y[yo + ys] = tail(w, b0, x, x1, k, n, MatMul.sumLanes(c1));
        y[yo + 2 * ys] = tail(w, b0, x, x2, k, n, MatMul.sumLanes(c2));
        y[yo + 3 * ys] = tail(w, b0, x, x3, k, n, MatMul.sumLanes(c3));
    }
}
