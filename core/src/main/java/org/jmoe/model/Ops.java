package org.jmoe.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.jmoe.tensor.MatMul;

/** Element-wise and small vector operations of the forward pass, each with a fixed evaluation order. */
public final class Ops {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;

    private Ops() {}

    /** {@code out[o..o+n) = x[xo..xo+n) / rms(x) * w}, the sum of squares in double as ggml does. */
    public static void rmsnorm(float[] x, int xo, float[] w, float[] out, int o, int n, float eps) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double) x[xo + i] * x[xo + i];
        float scale = (float) (1.0 / Math.sqrt((float) (ss / n) + eps));
        for (int i = 0; i < n; i++) out[o + i] = (x[xo + i] * scale) * w[i];
    }

    /** Fixed-order dot product (lanes of 8 with FMA, fixed lane tree, scalar tail). */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int L = F.length();
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i <= n - L; i += L) acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        float s = MatMul.sumLanes(acc);
        for (; i < n; i++) s = Math.fma(a[ao + i], b[bo + i], s);
        return s;
    }

    /** {@code y[yo..yo+n) += a * x[xo..xo+n)}. */
    public static void axpy(float[] y, int yo, float[] x, int xo, float a, int n) {
        int L = F.length();
        int i = 0;
        FloatVector av = FloatVector.broadcast(F, a);
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(F, x, xo + i).fma(av, FloatVector.fromArray(F, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < n; i++) y[yo + i] = Math.fma(x[xo + i], a, y[yo + i]);
    }

    /**
     * {@code y[yo..yo+n) = Σ_j (w[wo+j]·scale) · x[off[oo+j] ..]} over {@code rows} rows, each element's terms fused
     * in row order from zero: the bits of {@link #axpy} row after row onto zeros, with the sums held in registers
     * across the rows instead of stored to {@code y} and loaded back for every row. (The stored form ran the
     * attention core up to three times slower in some processes: with {@code y} re-written on every row, its stores
     * and the next row's loads could alias, depending on where the arrays lay.)
     */
    public static void weightedRowsAt(float[] y, int yo, float[] x, int[] off, int oo, float[] w, int wo, float scale, int rows, int n) {
        int L = F.length();
        int i = 0;
        for (; i <= n - 4 * L; i += 4 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int j = 0; j < rows; j++) {
                int b = off[oo + j] + i;
                FloatVector p = FloatVector.broadcast(F, w[wo + j] * scale);
                a0 = FloatVector.fromArray(F, x, b).fma(p, a0);
                a1 = FloatVector.fromArray(F, x, b + L).fma(p, a1);
                a2 = FloatVector.fromArray(F, x, b + 2 * L).fma(p, a2);
                a3 = FloatVector.fromArray(F, x, b + 3 * L).fma(p, a3);
            }
            a0.intoArray(y, yo + i);
            a1.intoArray(y, yo + i + L);
            a2.intoArray(y, yo + i + 2 * L);
            a3.intoArray(y, yo + i + 3 * L);
        }
        for (; i <= n - L; i += L) {
            FloatVector a = FloatVector.zero(F);
            for (int j = 0; j < rows; j++) a = FloatVector.fromArray(F, x, off[oo + j] + i).fma(FloatVector.broadcast(F, w[wo + j] * scale), a);
            a.intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            float a = 0f;
            for (int j = 0; j < rows; j++) a = Math.fma(x[off[oo + j] + i], w[wo + j] * scale, a);
            y[yo + i] = a;
        }
    }

    /** {@code y[yo..yo+n) += b[0..n)}. */
    public static void add(float[] y, int yo, float[] b, int n) {
        for (int i = 0; i < n; i++) y[yo + i] += b[i];
    }

    /** {@code y[yo..yo+n) += s * x[xo..xo+n)} (a plain add when s is 1). */
    public static void addScaled(float[] y, int yo, float[] x, int xo, int n, float s) {
        // lanes of 8, each element rounded as the scalar form (s * x, then the add: no fused multiply-add)
        int L = F.length();
        int i = 0;
        if (s == 1f) {
            for (; i <= n - L; i += L) FloatVector.fromArray(F, y, yo + i).add(FloatVector.fromArray(F, x, xo + i)).intoArray(y, yo + i);
            for (; i < n; i++) y[yo + i] += x[xo + i];
        } else {
            FloatVector sv = FloatVector.broadcast(F, s);
            for (; i <= n - L; i += L) FloatVector.fromArray(F, y, yo + i).add(FloatVector.fromArray(F, x, xo + i).mul(sv)).intoArray(y, yo + i);
            for (; i < n; i++) y[yo + i] += s * x[xo + i];
        }
    }

    public static float silu(float x) {
        return x / (1f + (float) Math.exp(-x));
    }
}
