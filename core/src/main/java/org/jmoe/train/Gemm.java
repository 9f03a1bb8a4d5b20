package org.jmoe.train;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;
import org.jmoe.tensor.Parallel;

/**
 * Register-blocked F32 matrix products on heap arrays, the three a linear layer's training needs:
 * <pre>
 *   C[m][j] += Σ_k A(m, k) · B[k][j]        m &lt; M, j &lt; N, k &lt; K
 * </pre>
 * with A addressed by two strides ({@code A(m, k) = a[ao + m·ams + k·aks]}, so A may be a matrix or its transpose)
 * and B, C row-major with leading dimensions {@code ldb}, {@code ldc}. A micro-tile of {@value #MR} rows of C by up to
 * four vectors holds its sums in registers: per k, one broadcast of A per row and one load of B per vector, then
 * MR × vectors fused multiply-adds. Columns past the last full vector are handled with a lane mask; rows past the
 * last full tile repeat the tile's last row (its results are discarded), so every element of C is computed by the
 * same sequence of operations whatever its position.
 *
 * <p><b>Determinism.</b> Every element of C is one chain {@code c = fma(A(m,k), B[k][j], c)} for k = 0, 1, …, K−1,
 * started from C's value on entry (or from 0 when C is overwritten). K is processed in blocks of {@value #KC} whose partial sums go back to C in F32,
 * which continues the same chain. The work is split over tiles of C, never over k, so the result does not depend on
 * the number of threads (nor on M, N blocking).
 */
final class Gemm {
    private Gemm() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    /** Rows of C per micro-tile. */
    static final int MR = 4;
    /** Depth of a K block (a B panel of KC rows by NC columns stays in the L2 cache). */
    static final int KC = 256;
    /** Columns of a task's block of C. */
    static final int NC = 256;

    /** {@code Y[n][out] = X[n][in] · W[out][in]^T} (a linear layer's forward; W row-major as stored). */
    static void forwardNT(Parallel pool, float[] y, int yo, float[] x, int xo, float[] w, int wo, int n, int in, int out) {
        float[] wt = transpose(w, wo, out, in);
        gemm(pool, x, xo, in, 1, wt, 0, out, y, yo, out, n, out, in, true);
    }

    /** {@code dX[n][in] += dY[n][out] · W[out][in]}. */
    static void backwardData(Parallel pool, float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo, int n, int in, int out) {
        gemm(pool, dy, dyo, out, 1, w, wo, in, dx, dxo, in, n, in, out, false);
    }

    /** {@code dW[out][in] += dY[n][out]^T · X[n][in]}. */
    static void backwardWeights(Parallel pool, float[] dy, int dyo, float[] x, int xo, float[] dw, int dwo, int n, int in, int out) {
        gemm(pool, dy, dyo, 1, out, x, xo, in, dw, dwo, in, out, in, n, false);
    }

    /** {@code W^T} of a row-major {@code rows × cols} matrix, as a new {@code cols × rows} array. */
    static float[] transpose(float[] w, int wo, int rows, int cols) {
        float[] t = new float[rows * cols];
        for (int r0 = 0; r0 < rows; r0 += 16) {
            int r1 = Math.min(rows, r0 + 16);
            for (int c = 0; c < cols; c++) {
                for (int r = r0; r < r1; r++) t[c * rows + r] = w[wo + r * cols + c];
            }
        }
        return t;
    }

    /** The transpose of a {@code rows × cols} block with row stride {@code ld}, as a new {@code cols × rows} array. */
    static float[] transposeStrided(float[] w, int wo, int rows, int cols, int ld) {
        float[] t = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) t[c * rows + r] = w[wo + r * ld + c];
        }
        return t;
    }

    /**
     * {@code C[m][j] += Σ_k a[ao + m·ams + k·aks] · b[bo + k·ldb + j]} for an M × N C (with {@code overwrite}, C's
     * values on entry are not read: the chains start from 0); tasks are tiles of C.
     */
    static void gemm(Parallel pool, float[] a, int ao, int ams, int aks, float[] b, int bo, int ldb,
                     float[] c, int co, int ldc, int M, int N, int K, boolean overwrite) {
        if (M <= 0 || N <= 0 || K <= 0) return;
        int nBlocks = (N + NC - 1) / NC;
        // Rows per task: whole micro-tiles, at least two tasks per thread when the shape allows it.
        int tiles = (M + MR - 1) / MR;
        int want = Math.max(1, (pool.threads() * 2 + nBlocks - 1) / nBlocks);
        int tilesPerTask = Math.max(1, Math.min(16, tiles / want));
        int mBlocks = (tiles + tilesPerTask - 1) / tilesPerTask;
        int mb = tilesPerTask * MR;
        pool.forEach(mBlocks * nBlocks, (task, worker) -> {
            int m0 = (task / nBlocks) * mb, j0 = (task % nBlocks) * NC;
            int m1 = Math.min(M, m0 + mb), j1 = Math.min(N, j0 + NC);
            for (int k0 = 0; k0 < K; k0 += KC) {
                int k1 = Math.min(K, k0 + KC);
                block(a, ao, ams, aks, b, bo, ldb, c, co, ldc, m0, m1, j0, j1, k0, k1, overwrite && k0 == 0);
            }
        });
    }

    /** One block of C, rows [m0, m1), columns [j0, j1), depth [k0, k1); {@code zero}: start from 0, not from C. */
    static void block(float[] a, int ao, int ams, int aks, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                      int m0, int m1, int j0, int j1, int k0, int k1, boolean zero) {
        for (int m = m0; m < m1; m += MR) {
            int last = Math.min(m1, m + MR) - 1;
            int r1 = Math.min(m + 1, last), r2 = Math.min(m + 2, last), r3 = Math.min(m + 3, last);
            int rows = last - m + 1;
            int j = j0;
            for (; j + 4 * L <= j1; j += 4 * L) tile4(a, ao, ams, aks, b, bo, ldb, c, co, ldc, m, r1, r2, r3, rows, j, k0, k1, zero);
            for (; j + L <= j1; j += L) tile1(a, ao, ams, aks, b, bo, ldb, c, co, ldc, m, r1, r2, r3, rows, j, k0, k1, null, zero);
            if (j < j1) tile1(a, ao, ams, aks, b, bo, ldb, c, co, ldc, m, r1, r2, r3, rows, j, k0, k1, S.indexInRange(j, j1), zero);
        }
    }

    private static void tile4(float[] a, int ao, int ams, int aks, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                              int r0, int r1, int r2, int r3, int rows, int j, int k0, int k1, boolean zero) {
        int c0 = co + r0 * ldc + j, c1 = co + r1 * ldc + j, c2 = co + r2 * ldc + j, c3 = co + r3 * ldc + j;
        FloatVector s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33;
        if (zero) {
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = FloatVector.zero(S);
        } else {
            s00 = FloatVector.fromArray(S, c, c0); s01 = FloatVector.fromArray(S, c, c0 + L);
            s02 = FloatVector.fromArray(S, c, c0 + 2 * L); s03 = FloatVector.fromArray(S, c, c0 + 3 * L);
            s10 = FloatVector.fromArray(S, c, c1); s11 = FloatVector.fromArray(S, c, c1 + L);
            s12 = FloatVector.fromArray(S, c, c1 + 2 * L); s13 = FloatVector.fromArray(S, c, c1 + 3 * L);
            s20 = FloatVector.fromArray(S, c, c2); s21 = FloatVector.fromArray(S, c, c2 + L);
            s22 = FloatVector.fromArray(S, c, c2 + 2 * L); s23 = FloatVector.fromArray(S, c, c2 + 3 * L);
            s30 = FloatVector.fromArray(S, c, c3); s31 = FloatVector.fromArray(S, c, c3 + L);
            s32 = FloatVector.fromArray(S, c, c3 + 2 * L); s33 = FloatVector.fromArray(S, c, c3 + 3 * L);
        }
        int a0 = ao + r0 * ams, a1 = ao + r1 * ams, a2 = ao + r2 * ams, a3 = ao + r3 * ams;
        for (int k = k0; k < k1; k++) {
            int bk = bo + k * ldb + j, ak = k * aks;
            FloatVector b0 = FloatVector.fromArray(S, b, bk), b1 = FloatVector.fromArray(S, b, bk + L),
                    b2 = FloatVector.fromArray(S, b, bk + 2 * L), b3 = FloatVector.fromArray(S, b, bk + 3 * L);
            FloatVector x = FloatVector.broadcast(S, a[a0 + ak]);
            s00 = x.fma(b0, s00); s01 = x.fma(b1, s01); s02 = x.fma(b2, s02); s03 = x.fma(b3, s03);
            x = FloatVector.broadcast(S, a[a1 + ak]);
            s10 = x.fma(b0, s10); s11 = x.fma(b1, s11); s12 = x.fma(b2, s12); s13 = x.fma(b3, s13);
            x = FloatVector.broadcast(S, a[a2 + ak]);
            s20 = x.fma(b0, s20); s21 = x.fma(b1, s21); s22 = x.fma(b2, s22); s23 = x.fma(b3, s23);
            x = FloatVector.broadcast(S, a[a3 + ak]);
            s30 = x.fma(b0, s30); s31 = x.fma(b1, s31); s32 = x.fma(b2, s32); s33 = x.fma(b3, s33);
        }
        // Rows are stored last to first: a repeated last row then holds its own (identical) result.
        if (rows > 3) { s30.intoArray(c, c3); s31.intoArray(c, c3 + L); s32.intoArray(c, c3 + 2 * L); s33.intoArray(c, c3 + 3 * L); }
        if (rows > 2) { s20.intoArray(c, c2); s21.intoArray(c, c2 + L); s22.intoArray(c, c2 + 2 * L); s23.intoArray(c, c2 + 3 * L); }
        if (rows > 1) { s10.intoArray(c, c1); s11.intoArray(c, c1 + L); s12.intoArray(c, c1 + 2 * L); s13.intoArray(c, c1 + 3 * L); }
        s00.intoArray(c, c0); s01.intoArray(c, c0 + L); s02.intoArray(c, c0 + 2 * L); s03.intoArray(c, c0 + 3 * L);
    }

    private static void tile1(float[] a, int ao, int ams, int aks, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                              int r0, int r1, int r2, int r3, int rows, int j, int k0, int k1, VectorMask<Float> mask, boolean zero) {
        int c0 = co + r0 * ldc + j, c1 = co + r1 * ldc + j, c2 = co + r2 * ldc + j, c3 = co + r3 * ldc + j;
        int a0 = ao + r0 * ams, a1 = ao + r1 * ams, a2 = ao + r2 * ams, a3 = ao + r3 * ams;
        if (mask == null) {
            FloatVector s0, s1, s2, s3;
            if (zero) {
                s0 = s1 = s2 = s3 = FloatVector.zero(S);
            } else {
                s0 = FloatVector.fromArray(S, c, c0); s1 = FloatVector.fromArray(S, c, c1);
                s2 = FloatVector.fromArray(S, c, c2); s3 = FloatVector.fromArray(S, c, c3);
            }
            for (int k = k0; k < k1; k++) {
                int ak = k * aks;
                FloatVector bv = FloatVector.fromArray(S, b, bo + k * ldb + j);
                s0 = FloatVector.broadcast(S, a[a0 + ak]).fma(bv, s0);
                s1 = FloatVector.broadcast(S, a[a1 + ak]).fma(bv, s1);
                s2 = FloatVector.broadcast(S, a[a2 + ak]).fma(bv, s2);
                s3 = FloatVector.broadcast(S, a[a3 + ak]).fma(bv, s3);
            }
            if (rows > 3) s3.intoArray(c, c3);
            if (rows > 2) s2.intoArray(c, c2);
            if (rows > 1) s1.intoArray(c, c1);
            s0.intoArray(c, c0);
        } else {
            FloatVector s0, s1, s2, s3;
            if (zero) {
                s0 = s1 = s2 = s3 = FloatVector.zero(S);
            } else {
                s0 = FloatVector.fromArray(S, c, c0, mask); s1 = FloatVector.fromArray(S, c, c1, mask);
                s2 = FloatVector.fromArray(S, c, c2, mask); s3 = FloatVector.fromArray(S, c, c3, mask);
            }
            for (int k = k0; k < k1; k++) {
                int ak = k * aks;
                FloatVector bv = FloatVector.fromArray(S, b, bo + k * ldb + j, mask);
                s0 = FloatVector.broadcast(S, a[a0 + ak]).fma(bv, s0);
                s1 = FloatVector.broadcast(S, a[a1 + ak]).fma(bv, s1);
                s2 = FloatVector.broadcast(S, a[a2 + ak]).fma(bv, s2);
                s3 = FloatVector.broadcast(S, a[a3 + ak]).fma(bv, s3);
            }
            if (rows > 3) s3.intoArray(c, c3, mask);
            if (rows > 2) s2.intoArray(c, c2, mask);
            if (rows > 1) s1.intoArray(c, c1, mask);
            s0.intoArray(c, c0, mask);
        }
    }
}
