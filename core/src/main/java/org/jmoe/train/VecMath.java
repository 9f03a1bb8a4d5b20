package org.jmoe.train;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector helpers of the trainer whose results are the same bits interpreted or compiled (and so in a resumed run and
 * an uninterrupted one): the Vector API's own EXP and float ADD reductions are intrinsics whose last bits can differ
 * from their Java fallbacks, so they are not used.
 */
final class VecMath {
    private VecMath() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private static final float LOG2E = 1.44269504f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;

    /**
     * {@code exp(x)} for x ≤ 0 from multiplies, adds and fused multiply-adds only. Cody–Waite reduction
     * {@code x = n·ln 2 + r}, |r| ≤ ln 2 / 2, then the degree-6 Taylor polynomial of e^r (truncation error
     * r^7/7! ≤ 1.3e-7 relative) scaled by 2^n; x below −87 (e^x &lt; 2^-125) gives 0.
     */
    static FloatVector expNonPositive(FloatVector x) {
        VectorSpecies<Float> sp = x.species();
        VectorMask<Float> tiny = x.lt(-87f);
        x = x.max(-87f);
        // n = round(x·log2 e): truncation of y − 0.5 rounds a non-positive y to nearest.
        IntVector n = (IntVector) x.mul(LOG2E).sub(0.5f).convert(VectorOperators.F2I, 0);
        FloatVector nf = (FloatVector) n.convert(VectorOperators.I2F, 0);
        FloatVector r = nf.fma(FloatVector.broadcast(sp, -LN2_HI), x);
        r = nf.fma(FloatVector.broadcast(sp, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(sp, 1f / 720).fma(r, FloatVector.broadcast(sp, 1f / 120));
        p = p.fma(r, FloatVector.broadcast(sp, 1f / 24));
        p = p.fma(r, FloatVector.broadcast(sp, 1f / 6));
        p = p.fma(r, FloatVector.broadcast(sp, 0.5f));
        p = p.fma(r, FloatVector.broadcast(sp, 1f));
        p = p.fma(r, FloatVector.broadcast(sp, 1f));
        FloatVector scale = n.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(scale).blend(0f, tiny);
    }

    /** The lanes' sum in double, lane 0 first. */
    static double sumLanes(FloatVector v) {
        double s = 0;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    /**
     * In-place softmax of {@code scale·a[o..o+len)} (len ≥ 1), and zeros {@code a[o+len..o+zeroTo)}: the causal
     * attention row of a query that sees len keys.
     */
    static void softmaxPrefix(float[] a, int o, int len, float scale, int zeroTo) {
        int L = S.length();
        FloatVector sc = FloatVector.broadcast(S, scale), mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < len; i += L) {
            VectorMask<Float> k = S.indexInRange(i, len);
            mx = mx.max(FloatVector.fromArray(S, a, o + i, k).mul(sc).blend(Float.NEGATIVE_INFINITY, k.not()));
        }
        FloatVector max = FloatVector.broadcast(S, mx.reduceLanes(VectorOperators.MAX)), acc = FloatVector.zero(S);
        for (int i = 0; i < len; i += L) {
            VectorMask<Float> k = S.indexInRange(i, len);
            FloatVector e = expNonPositive(FloatVector.fromArray(S, a, o + i, k).mul(sc).sub(max)).blend(0f, k.not());
            e.intoArray(a, o + i, k);
            acc = acc.add(e);
        }
        FloatVector inv = FloatVector.broadcast(S, (float) (1.0 / sumLanes(acc)));
        for (int i = 0; i < len; i += L) {
            VectorMask<Float> k = S.indexInRange(i, len);
            FloatVector.fromArray(S, a, o + i, k).mul(inv).intoArray(a, o + i, k);
        }
        java.util.Arrays.fill(a, o + len, o + zeroTo, 0f);
    }
}
