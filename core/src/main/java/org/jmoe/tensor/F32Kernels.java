package org.jmoe.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Register-blocked F32 kernels for {@code y[t][r] = W[r]·x[t]} with W in a memory segment (row-major,
 * {@code rowBytes} apart) and x, y on the heap.
 *
 * <p>Every output keeps the canonical order of {@link MatMul#dotF32} (with 16 lanes the tiles finish four
 * outputs at a time with {@link MatMul#sums4}: the same additions): one accumulator of {@link MatMul#F}'s lanes, FMAs in k order,
 * {@link MatMul#sumLanes}, then the scalar tail. Tiles only decide how many outputs share each load, so any
 * tile, block size or thread computes bit-identical values.
 *
 * <p>Prefill (T &gt; 1) uses 3-row x 4-token tiles with 16 lanes (AVX-512's 32 registers hold their 12
 * accumulators) and 3-row x 3-token tiles: 9 accumulators, 3 weight vectors and one activation
 * vector stay in 13 of AVX2's 16 vector registers (C2 spills accumulators of a 12-accumulator tile), with
 * 6 loads per 9 FMAs. Tokens left over use 3x2 tiles; rows left over at the end of the matrix use 1-row
 * tiles. Rows are processed in chunks and tokens in blocks sized so that both stay in the L2 cache while
 * the tiles sweep them. Decode (T = 1) streams 4 rows at a time, so 4 independent FMA chains hide the FMA
 * latency and 4 hardware-prefetch streams run at once.
 */
final class F32Kernels {
    private static final VectorSpecies<Float> F = MatMul.F;
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Bytes of weights (a chunk of rows) and of activations (a block of tokens) kept in L2 at once. */
    private static final int L2_BLOCK_BYTES = 128 * 1024;

    private F32Kernels() {}

    /** Rows per L2 chunk for rows of {@code n} floats: a multiple of 3, at least 3. */
    static int rowChunk(int n) {
        int rc = L2_BLOCK_BYTES / (4 * Math.max(1, n));
        return Math.max(3, Math.min(96, rc / 3 * 3));
    }

    /** Rows [r0, r1) x all T tokens. */
    static void rows(MemorySegment w, long rowBytes, float[] x, int xOff, int xStride, int T,
                     float[] y, int yOff, int yStride, int r0, int r1, int n) {
        if (T == 1) {
            matvec(w, rowBytes, x, xOff, y, yOff, r0, r1, n);
        } else {
            int rc = rowChunk(n);
            for (int c0 = r0; c0 < r1; c0 += rc) gemm(w, null, 0, rowBytes, x, xOff, xStride, T, y, yOff, yStride, c0, Math.min(r1, c0 + rc), n);
        }
    }

    /** One token: rows four at a time, then singly. */
    static void matvec(MemorySegment w, long rowBytes, float[] x, int xOff, float[] y, int yOff, int r0, int r1, int n) {
        int r = r0;
        for (; r + 4 <= r1; r += 4) k4x1(w, r * rowBytes, rowBytes, x, xOff, y, yOff + r, n);
        for (; r < r1; r++) y[yOff + r] = MatMul.dotF32(w, r * rowBytes, x, xOff, n);
    }

    /**
     * Rows [r0, r1) (an L2-sized chunk) x all T &gt;= 2 tokens, in L2-sized token blocks of at least 2 tokens.
     * W is read from {@code wa} (a heap copy from float {@code waOff}, {@code rowBytes / 4} floats per row) when it is not null, else
     * from {@code w}. The heap variant serves decoded F16/BF16 rows: the JDK's segment-access code is shared
     * by all callers, so feeding it segments of a second implementation class would slow every F32 kernel.
     */
    static void gemm(MemorySegment w, float[] wa, int waOff, long rowBytes, float[] x, int xOff, int xStride, int T,
                     float[] y, int yOff, int yStride, int r0, int r1, int n) {
        int tb = Math.max(3, L2_BLOCK_BYTES / (4 * Math.max(1, n)) / 3 * 3);
        int blocks = (T + tb - 1) / tb;
        float[] acc = ACC.get().ensure(4 * L);
        for (int b = 0; b < blocks; b++) {
            // even split, so no block but a T = 1 product has a single token
            int t0 = (int) ((long) T * b / blocks), t1 = (int) ((long) T * (b + 1) / blocks);
            int r = r0;
            if (wa == null) {
                for (; r + 3 <= r1; r += 3) tiles3(w, r * rowBytes, rowBytes, x, xOff, xStride, t0, t1, y, yOff + r, yStride, n, acc);
                for (; r < r1; r++) tiles1(w, r * rowBytes, x, xOff, xStride, t0, t1, y, yOff + r, yStride, n);
            } else {
                int rs = (int) (rowBytes / 4);
                for (; r + 3 <= r1; r += 3) tiles3(wa, waOff + r * rs, rs, x, xOff, xStride, t0, t1, y, yOff + r, yStride, n, acc);
                for (; r < r1; r++) tiles1(wa, waOff + r * rs, x, xOff, xStride, t0, t1, y, yOff + r, yStride, n);
            }
        }
    }

    /** Decodes the n values of the row at byte {@code base} of {@code w} to floats at {@code dst[off..]}. */
    interface RowDecoder {
        void decode(MemorySegment w, long base, float[] dst, int off, int n);
    }

    /** A thread's decoded rows. */
    private static final ThreadLocal<Scratch> DECODED_ROWS = Scratch.perThread();
    /** A thread's spill area for {@link #k3x4}'s last accumulators. */
    private static final ThreadLocal<Scratch> ACC = Scratch.perThread();

    /**
     * Rows [r0, r1) of a weight in another format x T &gt;= 2 tokens: L2-sized chunks of rows decoded once into
     * a per-thread buffer by {@code dec}, then the heap tiles, so the conversion costs one pass per weight
     * instead of one per token (F16/BF16 and the block formats' prefill).
     */
    static void gemmDecoded(RowDecoder dec, MemorySegment w, long rowBytes, float[] x, int xOff, int xStride, int T,
                            float[] y, int yOff, int yStride, int r0, int r1, int n) {
        int rc = rowChunk(n);
        // rows from a 64-byte boundary (HeapAlign), so that the tiles' loads of whole rows of 16 floats do not split
        int off = HeapAlign.PAD;
        float[] buf = DECODED_ROWS.get().ensure(off + rc * n);
        for (int c0 = r0; c0 < r1; c0 += rc) {
            int c1 = Math.min(r1, c0 + rc);
            for (int r = c0; r < c1; r++) dec.decode(w, r * rowBytes, buf, off + (r - c0) * n, n);
            gemm(null, buf, off, 4L * n, x, xOff, xStride, T, y, yOff + c0, yStride, 0, c1 - c0, n);
        }
    }

    /**
     * How many 3-token tiles lead a run of {@code m} tokens that 4-token tiles finish (m = 3a + 4b, a &lt;= 3), or -1
     * where the 4-token tile does not apply (8 lanes, rows that are not whole vectors, m of 1, 2 or 5).
     */
    private static int leadingThrees(int m, int n) {
        if (L != 16 || n % L != 0) return -1;
        int threes = (4 - m % 4) % 4;
        return m >= 3 * threes ? threes : -1;
    }

    /**
     * Three rows at byte {@code b0} x tokens [t0, t1): with 16 lanes and whole vectors, 4-token tiles and three or
     * fewer 3-token tiles where the count allows; else 3-token tiles, then 2-token tiles.
     */
    private static void tiles3(MemorySegment w, long b0, long rb, float[] x, int xOff, int xs, int t0, int t1,
                               float[] y, int yo, int ys, int n, float[] acc) {
        int m = t1 - t0;
        int threes = leadingThrees(m, n);
        if (threes >= 0) {
            int t = t0;
            for (int i = 0; i < threes; i++, t += 3) k3x3(w, b0, rb, x, xOff + t * xs, xs, y, yo + t * ys, ys, n);
            for (; t < t1; t += 4) k3x4(w, b0, rb, x, xOff + t * xs, xs, y, yo + t * ys, ys, n, acc);
            return;
        }
        int n3 = m % 3 == 1 && m >= 4 ? m / 3 - 1 : m / 3;
        int t = t0;
        for (int i = 0; i < n3; i++, t += 3) k3x3(w, b0, rb, x, xOff + t * xs, xs, y, yo + t * ys, ys, n);
        for (; t + 2 <= t1; t += 2) k3x2(w, b0, rb, x, xOff + t * xs, xs, y, yo + t * ys, ys, n);
        if (t < t1) {
            k3x1(w, b0, rb, x, xOff + t * xs, y, yo + t * ys, n);
        }
    }

    /** One row x tokens [t0, t1). */
    private static void tiles1(MemorySegment w, long b0, float[] x, int xOff, int xs, int t0, int t1,
                               float[] y, int yo, int ys, int n) {
        int t = t0;
        for (; t + 3 <= t1; t += 3) k1x3(w, b0, x, xOff + t * xs, xs, y, yo + t * ys, ys, n);
        for (; t < t1; t++) y[yo + t * ys] = MatMul.dotF32(w, b0, x, xOff + t * xs, n);
    }

    static float tail(MemorySegment w, long base, float[] x, int xo, int k, int n, float s) {
        for (; k < n; k++) s = Math.fma(w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, base + 4L * k), x[xo + k], s);
        return s;
    }

    static void k4x1(MemorySegment w, long b0, long rb, float[] x, int xo, float[] y, int yo, int n) {
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

    static void k3x3(MemorySegment w, long b0, long rb, float[] x, int xo, int xs, float[] y, int yo, int ys, int n) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00;
        long b1 = b0 + rb, b2 = b1 + rb;
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs;
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
        }
        if (L == 16 && k == n) {
            FloatVector s = MatMul.sums4(c00, c10, c20, c01);
            y[yo] = s.lane(0); y[yo + 1] = s.lane(8); y[yo + 2] = s.lane(4); y[yo + ys] = s.lane(12);
            s = MatMul.sums4(c11, c21, c02, c12);
            y[yo + ys + 1] = s.lane(0); y[yo + ys + 2] = s.lane(8); y[yo + 2 * ys] = s.lane(4); y[yo + 2 * ys + 1] = s.lane(12);
            y[yo + 2 * ys + 2] = MatMul.sumLanesTree(c22);
            return;
        }
        y[yo] = tail(w, b0, x, x0, k, n, MatMul.sumLanesTree(c00));
        y[yo + 1] = tail(w, b1, x, x0, k, n, MatMul.sumLanesTree(c10));
        y[yo + 2] = tail(w, b2, x, x0, k, n, MatMul.sumLanesTree(c20));
        y[yo + ys] = tail(w, b0, x, x1, k, n, MatMul.sumLanesTree(c01));
        y[yo + ys + 1] = tail(w, b1, x, x1, k, n, MatMul.sumLanesTree(c11));
        y[yo + ys + 2] = tail(w, b2, x, x1, k, n, MatMul.sumLanesTree(c21));
        y[yo + 2 * ys] = tail(w, b0, x, x2, k, n, MatMul.sumLanesTree(c02));
        y[yo + 2 * ys + 1] = tail(w, b1, x, x2, k, n, MatMul.sumLanesTree(c12));
        y[yo + 2 * ys + 2] = tail(w, b2, x, x2, k, n, MatMul.sumLanesTree(c22));
    }

    /** {@link #k3x4(float[], int, int, float[], int, int, float[], int, int, int, float[])} with W in a memory segment. */
    static void k3x4(MemorySegment w, long b0, long rb, float[] x, int xo, int xs, float[] y, int yo, int ys, int n, float[] acc) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        long b1 = b0 + rb, b2 = b1 + rb;
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs, x3 = x2 + xs;
        for (int k = 0; k < n; k += L) {
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
        FloatVector s = MatMul.sums4(c00, c10, c20, c01);
        y[yo] = s.lane(0); y[yo + 1] = s.lane(8); y[yo + 2] = s.lane(4); y[yo + ys] = s.lane(12);
        s = MatMul.sums4(c11, c21, c02, c12);
        y[yo + ys + 1] = s.lane(0); y[yo + ys + 2] = s.lane(8); y[yo + 2 * ys] = s.lane(4); y[yo + 2 * ys + 1] = s.lane(12);
        float[] a = acc;
        c22.intoArray(a, 0); c03.intoArray(a, L); c13.intoArray(a, 2 * L); c23.intoArray(a, 3 * L);
        sums4At(a, y, yo + 2 * ys + 2, yo + 3 * ys, yo + 3 * ys + 1, yo + 3 * ys + 2);
    }

    static void k3x2(MemorySegment w, long b0, long rb, float[] x, int xo, int xs, float[] y, int yo, int ys, int n) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00;
        FloatVector c10 = c00, c11 = c00;
        FloatVector c20 = c00, c21 = c00;
        long b1 = b0 + rb, b2 = b1 + rb;
        int x0 = xo, x1 = xo + xs;
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
        }
        if (L == 16 && k == n) {
            FloatVector s = MatMul.sums4(c00, c10, c20, c01);
            y[yo] = s.lane(0); y[yo + 1] = s.lane(8); y[yo + 2] = s.lane(4); y[yo + ys] = s.lane(12);
            s = MatMul.sums4(c11, c21, c11, c21);
            y[yo + ys + 1] = s.lane(0); y[yo + ys + 2] = s.lane(8);
            return;
        }
        y[yo] = tail(w, b0, x, x0, k, n, MatMul.sumLanesTree(c00));
        y[yo + 1] = tail(w, b1, x, x0, k, n, MatMul.sumLanesTree(c10));
        y[yo + 2] = tail(w, b2, x, x0, k, n, MatMul.sumLanesTree(c20));
        y[yo + ys] = tail(w, b0, x, x1, k, n, MatMul.sumLanesTree(c01));
        y[yo + ys + 1] = tail(w, b1, x, x1, k, n, MatMul.sumLanesTree(c11));
        y[yo + ys + 2] = tail(w, b2, x, x1, k, n, MatMul.sumLanesTree(c21));
    }

    static void k3x1(MemorySegment w, long b0, long rb, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0;
        long b1 = b0 + rb, b2 = b1 + rb;
        int k = 0;
        for (; k <= n - L; k += L) {
            long o = 4L * k;
            FloatVector v = FloatVector.fromArray(F, x, xo + k);
            c0 = FloatVector.fromMemorySegment(F, w, b0 + o, LE).fma(v, c0);
            c1 = FloatVector.fromMemorySegment(F, w, b1 + o, LE).fma(v, c1);
            c2 = FloatVector.fromMemorySegment(F, w, b2 + o, LE).fma(v, c2);
        }
        if (L == 16 && k == n) {
            FloatVector s = MatMul.sums4(c0, c1, c2, c2);
            y[yo] = s.lane(0); y[yo + 1] = s.lane(8); y[yo + 2] = s.lane(4);
            return;
        }
        y[yo] = tail(w, b0, x, xo, k, n, MatMul.sumLanesTree(c0));
        y[yo + 1] = tail(w, b1, x, xo, k, n, MatMul.sumLanesTree(c1));
        y[yo + 2] = tail(w, b2, x, xo, k, n, MatMul.sumLanesTree(c2));
    }

    static void k1x3(MemorySegment w, long b0, float[] x, int xo, int xs, float[] y, int yo, int ys, int n) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0;
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector wv = FloatVector.fromMemorySegment(F, w, b0 + 4L * k, LE);
            c0 = wv.fma(FloatVector.fromArray(F, x, x0 + k), c0);
            c1 = wv.fma(FloatVector.fromArray(F, x, x1 + k), c1);
            c2 = wv.fma(FloatVector.fromArray(F, x, x2 + k), c2);
        }
        if (L == 16 && k == n) {
            FloatVector s = MatMul.sums4(c0, c1, c2, c2);
            y[yo] = s.lane(0); y[yo + ys] = s.lane(8); y[yo + 2 * ys] = s.lane(4);
            return;
        }
        y[yo] = tail(w, b0, x, x0, k, n, MatMul.sumLanesTree(c0));
        y[yo + ys] = tail(w, b0, x, x1, k, n, MatMul.sumLanesTree(c1));
        y[yo + 2 * ys] = tail(w, b0, x, x2, k, n, MatMul.sumLanesTree(c2));
    }

    // ---- the same tiles with W in a heap array ----

    /**
     * Three rows at float {@code b0} of a heap copy of W x tokens [t0, t1): with 16 lanes and whole vectors, 4-token
     * tiles and three or fewer 3-token tiles where the count allows; else 3-token tiles, then 2-token tiles.
     */
    private static void tiles3(float[] w, int b0, int rb, float[] x, int xOff, int xs, int t0, int t1,
                               float[] y, int yo, int ys, int n, float[] acc) {
        int m = t1 - t0;
        int threes = leadingThrees(m, n);
        if (threes >= 0) {
            int t = t0;
            for (int i = 0; i < threes; i++, t += 3) k3x3(w, b0, rb, x, xOff + t * xs, xs, y, yo + t * ys, ys, n);
            for (; t < t1; t += 4) k3x4(w, b0, rb, x, xOff + t * xs, xs, y, yo + t * ys, ys, n, acc);
            return;
        }
        int n3 = m % 3 == 1 && m >= 4 ? m / 3 - 1 : m / 3;
        int t = t0;
        for (int i = 0; i < n3; i++, t += 3) k3x3(w, b0, rb, x, xOff + t * xs, xs, y, yo + t * ys, ys, n);
        for (; t + 2 <= t1; t += 2) k3x2(w, b0, rb, x, xOff + t * xs, xs, y, yo + t * ys, ys, n);
        if (t < t1) {
            k3x1(w, b0, rb, x, xOff + t * xs, y, yo + t * ys, n);
        }
    }

    /** One row of a heap copy of W x tokens [t0, t1). */
    private static void tiles1(float[] w, int b0, float[] x, int xOff, int xs, int t0, int t1,
                               float[] y, int yo, int ys, int n) {
        int t = t0;
        for (; t + 3 <= t1; t += 3) k1x3(w, b0, x, xOff + t * xs, xs, y, yo + t * ys, ys, n);
        for (; t < t1; t++) y[yo + t * ys] = dot(w, b0, x, xOff + t * xs, n);
    }

    static float tail(float[] w, int base, float[] x, int xo, int k, int n, float s) {
        for (; k < n; k++) s = Math.fma(w[base + k], x[xo + k], s);
        return s;
    }

    static void k3x3(float[] w, int b0, int rb, float[] x, int xo, int xs, float[] y, int yo, int ys, int n) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00;
        int b1 = b0 + rb, b2 = b1 + rb;
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, b0 + k);
            FloatVector w1 = FloatVector.fromArray(F, w, b1 + k);
            FloatVector w2 = FloatVector.fromArray(F, w, b2 + k);
            FloatVector v = FloatVector.fromArray(F, x, x0 + k);
            c00 = w0.fma(v, c00); c10 = w1.fma(v, c10); c20 = w2.fma(v, c20);
            v = FloatVector.fromArray(F, x, x1 + k);
            c01 = w0.fma(v, c01); c11 = w1.fma(v, c11); c21 = w2.fma(v, c21);
            v = FloatVector.fromArray(F, x, x2 + k);
            c02 = w0.fma(v, c02); c12 = w1.fma(v, c12); c22 = w2.fma(v, c22);
        }
        if (L == 16 && k == n) {
            FloatVector s = MatMul.sums4(c00, c10, c20, c01);
            y[yo] = s.lane(0); y[yo + 1] = s.lane(8); y[yo + 2] = s.lane(4); y[yo + ys] = s.lane(12);
            s = MatMul.sums4(c11, c21, c02, c12);
            y[yo + ys + 1] = s.lane(0); y[yo + ys + 2] = s.lane(8); y[yo + 2 * ys] = s.lane(4); y[yo + 2 * ys + 1] = s.lane(12);
            y[yo + 2 * ys + 2] = MatMul.sumLanesTree(c22);
            return;
        }
        y[yo] = tail(w, b0, x, x0, k, n, MatMul.sumLanesTree(c00));
        y[yo + 1] = tail(w, b1, x, x0, k, n, MatMul.sumLanesTree(c10));
        y[yo + 2] = tail(w, b2, x, x0, k, n, MatMul.sumLanesTree(c20));
        y[yo + ys] = tail(w, b0, x, x1, k, n, MatMul.sumLanesTree(c01));
        y[yo + ys + 1] = tail(w, b1, x, x1, k, n, MatMul.sumLanesTree(c11));
        y[yo + ys + 2] = tail(w, b2, x, x1, k, n, MatMul.sumLanesTree(c21));
        y[yo + 2 * ys] = tail(w, b0, x, x2, k, n, MatMul.sumLanesTree(c02));
        y[yo + 2 * ys + 1] = tail(w, b1, x, x2, k, n, MatMul.sumLanesTree(c12));
        y[yo + 2 * ys + 2] = tail(w, b2, x, x2, k, n, MatMul.sumLanesTree(c22));
    }

    /**
     * Three rows x four tokens, 16 lanes and {@code n} a multiple of 16 only: 12 accumulators, 3 weight vectors and
     * one activation vector fit AVX-512's 32 registers (AVX2's 16 would spill); 7 loads per 12 FMAs.
     */
    static void k3x4(float[] w, int b0, int rb, float[] x, int xo, int xs, float[] y, int yo, int ys, int n, float[] acc) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        int b1 = b0 + rb, b2 = b1 + rb;
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs, x3 = x2 + xs;
        for (int k = 0; k < n; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, b0 + k);
            FloatVector w1 = FloatVector.fromArray(F, w, b1 + k);
            FloatVector w2 = FloatVector.fromArray(F, w, b2 + k);
            FloatVector v = FloatVector.fromArray(F, x, x0 + k);
            c00 = w0.fma(v, c00); c10 = w1.fma(v, c10); c20 = w2.fma(v, c20);
            v = FloatVector.fromArray(F, x, x1 + k);
            c01 = w0.fma(v, c01); c11 = w1.fma(v, c11); c21 = w2.fma(v, c21);
            v = FloatVector.fromArray(F, x, x2 + k);
            c02 = w0.fma(v, c02); c12 = w1.fma(v, c12); c22 = w2.fma(v, c22);
            v = FloatVector.fromArray(F, x, x3 + k);
            c03 = w0.fma(v, c03); c13 = w1.fma(v, c13); c23 = w2.fma(v, c23);
        }
        FloatVector s = MatMul.sums4(c00, c10, c20, c01);
        y[yo] = s.lane(0); y[yo + 1] = s.lane(8); y[yo + 2] = s.lane(4); y[yo + ys] = s.lane(12);
        s = MatMul.sums4(c11, c21, c02, c12);
        y[yo + ys + 1] = s.lane(0); y[yo + ys + 2] = s.lane(8); y[yo + 2 * ys] = s.lane(4); y[yo + 2 * ys + 1] = s.lane(12);
        // the last four through memory: a third sums4 inlined here passes C2's node-count cutoff, and a vector
        // handed to a call that is not inlined is boxed
        float[] a = acc;
        c22.intoArray(a, 0); c03.intoArray(a, L); c13.intoArray(a, 2 * L); c23.intoArray(a, 3 * L);
        sums4At(a, y, yo + 2 * ys + 2, yo + 3 * ys, yo + 3 * ys + 1, yo + 3 * ys + 2);
    }

    /** {@link MatMul#sums4} of the four vectors at {@code a[0..4L)}, written to {@code y[i0]}, ..., {@code y[i3]}. */
    private static void sums4At(float[] a, float[] y, int i0, int i1, int i2, int i3) {
        FloatVector s = MatMul.sums4(FloatVector.fromArray(F, a, 0), FloatVector.fromArray(F, a, L),
                FloatVector.fromArray(F, a, 2 * L), FloatVector.fromArray(F, a, 3 * L));
        y[i0] = s.lane(0); y[i1] = s.lane(8); y[i2] = s.lane(4); y[i3] = s.lane(12);
    }

    static void k3x2(float[] w, int b0, int rb, float[] x, int xo, int xs, float[] y, int yo, int ys, int n) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00;
        FloatVector c10 = c00, c11 = c00;
        FloatVector c20 = c00, c21 = c00;
        int b1 = b0 + rb, b2 = b1 + rb;
        int x0 = xo, x1 = xo + xs;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, b0 + k);
            FloatVector w1 = FloatVector.fromArray(F, w, b1 + k);
            FloatVector w2 = FloatVector.fromArray(F, w, b2 + k);
            FloatVector v = FloatVector.fromArray(F, x, x0 + k);
            c00 = w0.fma(v, c00); c10 = w1.fma(v, c10); c20 = w2.fma(v, c20);
            v = FloatVector.fromArray(F, x, x1 + k);
            c01 = w0.fma(v, c01); c11 = w1.fma(v, c11); c21 = w2.fma(v, c21);
        }
        if (L == 16 && k == n) {
            FloatVector s = MatMul.sums4(c00, c10, c20, c01);
            y[yo] = s.lane(0); y[yo + 1] = s.lane(8); y[yo + 2] = s.lane(4); y[yo + ys] = s.lane(12);
            s = MatMul.sums4(c11, c21, c11, c21);
            y[yo + ys + 1] = s.lane(0); y[yo + ys + 2] = s.lane(8);
            return;
        }
        y[yo] = tail(w, b0, x, x0, k, n, MatMul.sumLanesTree(c00));
        y[yo + 1] = tail(w, b1, x, x0, k, n, MatMul.sumLanesTree(c10));
        y[yo + 2] = tail(w, b2, x, x0, k, n, MatMul.sumLanesTree(c20));
        y[yo + ys] = tail(w, b0, x, x1, k, n, MatMul.sumLanesTree(c01));
        y[yo + ys + 1] = tail(w, b1, x, x1, k, n, MatMul.sumLanesTree(c11));
        y[yo + ys + 2] = tail(w, b2, x, x1, k, n, MatMul.sumLanesTree(c21));
    }

    static void k3x1(float[] w, int b0, int rb, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0;
        int b1 = b0 + rb, b2 = b1 + rb;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector v = FloatVector.fromArray(F, x, xo + k);
            c0 = FloatVector.fromArray(F, w, b0 + k).fma(v, c0);
            c1 = FloatVector.fromArray(F, w, b1 + k).fma(v, c1);
            c2 = FloatVector.fromArray(F, w, b2 + k).fma(v, c2);
        }
        if (L == 16 && k == n) {
            FloatVector s = MatMul.sums4(c0, c1, c2, c2);
            y[yo] = s.lane(0); y[yo + 1] = s.lane(8); y[yo + 2] = s.lane(4);
            return;
        }
        y[yo] = tail(w, b0, x, xo, k, n, MatMul.sumLanesTree(c0));
        y[yo + 1] = tail(w, b1, x, xo, k, n, MatMul.sumLanesTree(c1));
        y[yo + 2] = tail(w, b2, x, xo, k, n, MatMul.sumLanesTree(c2));
    }

    static void k1x3(float[] w, int b0, float[] x, int xo, int xs, float[] y, int yo, int ys, int n) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0;
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector wv = FloatVector.fromArray(F, w, b0 + k);
            c0 = wv.fma(FloatVector.fromArray(F, x, x0 + k), c0);
            c1 = wv.fma(FloatVector.fromArray(F, x, x1 + k), c1);
            c2 = wv.fma(FloatVector.fromArray(F, x, x2 + k), c2);
        }
        if (L == 16 && k == n) {
            FloatVector s = MatMul.sums4(c0, c1, c2, c2);
            y[yo] = s.lane(0); y[yo + ys] = s.lane(8); y[yo + 2 * ys] = s.lane(4);
            return;
        }
        y[yo] = tail(w, b0, x, x0, k, n, MatMul.sumLanesTree(c0));
        y[yo + ys] = tail(w, b0, x, x1, k, n, MatMul.sumLanesTree(c1));
        y[yo + 2 * ys] = tail(w, b0, x, x2, k, n, MatMul.sumLanesTree(c2));
    }
    /** {@link MatMul#dotF32} for a row of a heap copy of W. */
    static float dot(float[] w, int b0, float[] x, int xo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int k = 0;
        for (; k <= n - L; k += L) acc = FloatVector.fromArray(F, w, b0 + k).fma(FloatVector.fromArray(F, x, xo + k), acc);
        return tail(w, b0, x, xo, k, n, MatMul.sumLanes(acc));
    }
}
