package org.jmoe.tensor.quant;

/**
 * Quantizes activation rows as llama.cpp's CPU backend (x86 AVX2 path) does before a quantized dot product.
 * Q8_0: per block of 32, {@code d = fp16(amax / 127)}, {@code q = round_half_even(x * (127 / amax))}.
 */
public final class ActQuant {
    private ActQuant() {}

    /**
     * Quantizes {@code acts.cols} values of {@code x} starting at {@code xOff} into row {@code row} of
     * {@code acts} (already {@link QuantizedActs#ensure sized}) in {@code acts.format}.
     */
    public static void quantizeRow(float[] x, int xOff, QuantizedActs acts, int row) {
        switch (acts.format) {
            case Q8_0 -> q8_0(x, xOff, acts, row);
            case Q8_1 -> q8_1(x, xOff, acts, row);
            case Q8_K -> q8_k(x, xOff, acts, row);
        }
    }

    /** Q8_1: as Q8_0, plus {@code s = fp16(d * sum(q))} per block (the AVX2 path's definition). */
    private static void q8_1(float[] x, int xOff, QuantizedActs a, int row) {
        q8_0(x, xOff, a, row);
        int n = a.cols, nb = n / 32, qo = row * n, bo = row * nb;
        for (int b = 0; b < nb; b++) {
            int sum = 0;
            for (int i = 0; i < 32; i++) sum += a.qs[qo + b * 32 + i];
            a.s[bo + b] = Float.float16ToFloat(Float.floatToFloat16(rawD(x, xOff + b * 32) * sum));
        }
    }

    /** The unrounded Q8_0/Q8_1 scale {@code amax / 127} of the 32 values at {@code o}. */
    private static float rawD(float[] x, int o) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[o + i]));
        return amax / 127f;
    }

    /**
     * Q8_K (llama.cpp's reference, also its x86 path): per 256 values, {@code iscale = -127 / max} with max the
     * value of largest magnitude (sign kept), {@code q = min(127, nearest(iscale * x))}, {@code d = 1 / iscale},
     * and the sums of each 16 quants.
     */
    private static void q8_k(float[] x, int xOff, QuantizedActs a, int row) {
        int n = a.cols, nb = n / 256, qo = row * n, bo = row * nb;
        for (int b = 0; b < nb; b++) {
            int o = xOff + b * 256, q0 = qo + b * 256;
            float amax = 0, max = 0;
            for (int i = 0; i < 256; i++) {
                float ax = Math.abs(x[o + i]);
                if (ax > amax) { amax = ax; max = x[o + i]; }
            }
            if (amax == 0) {
                a.d[bo + b] = 0;
                for (int i = 0; i < 256; i++) { a.qs[q0 + i] = 0; a.qf[q0 + i] = 0; }
                for (int j = 0; j < 16; j++) a.bsums[(q0 >> 4) + j] = 0;
                continue;
            }
            float iscale = -127f / max;
            for (int i = 0; i < 256; i++) {
                int v = Math.min(127, (int) Math.rint(iscale * x[o + i]));
                a.qs[q0 + i] = (byte) v;
                a.qf[q0 + i] = v;
            }
            for (int j = 0; j < 16; j++) {
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += a.qs[q0 + j * 16 + i];
                a.bsums[(q0 >> 4) + j] = (short) sum;
            }
            a.d[bo + b] = 1f / iscale;
        }
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> F = jdk.incubator.vector.FloatVector.SPECIES_256;
    /** 1.5·2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer, half to even. */
    private static final float ROUND = 12582912f;

    /** Orders of the 32 values of a block in {@link #decodedQ8_0}'s output. */
    public enum Order {
        /** Values 0..31 in order. */
        NATURAL,
        /** The 8-lane Q8_0 kernel's: position 8j + i holds value 4i + j. */
        Q8_0_8,
        /** The 8-lane Q4_0 kernel's: groups of 8 values in the order 0, 2, 1, 3. */
        Q4_0_8
    }

    /**
     * Q8_0-quantizes {@code n} values of {@code x} (a multiple of 32) as {@link #quantizeRow} does and writes
     * the decoded values {@code d·q} (exact in float) to {@code dst}, each block of 32 in {@code order} (the
     * order in which a Q8_0 or Q4_0 kernel reads a weight block). Vectorised; bit-identical to the scalar
     * quantizer.
     */
    public static void decodedQ8_0(float[] x, int xOff, int n, float[] dst, int dstOff, Order order) {
        // The block goes to dst in natural order, then is reordered in place; only the 8-lane Q8_0 order (a
        // transpose) needs a copy.
        float[] tmp = order == Order.Q8_0_8 ? new float[32] : null;
        for (int b = 0, nb = n / 32; b < nb; b++) {
            int o = xOff + b * 32, t = dstOff + b * 32;
            var v0 = jdk.incubator.vector.FloatVector.fromArray(F, x, o);
            var v1 = jdk.incubator.vector.FloatVector.fromArray(F, x, o + 8);
            var v2 = jdk.incubator.vector.FloatVector.fromArray(F, x, o + 16);
            var v3 = jdk.incubator.vector.FloatVector.fromArray(F, x, o + 24);
            var m = v0.abs().max(v1.abs()).max(v2.abs().max(v3.abs()));
            float amax = m.reduceLanes(jdk.incubator.vector.VectorOperators.MAX);
            if (!(amax <= Float.MAX_VALUE)) {  // NaN or infinite: the scalar definition
                for (int i = 0; i < 32; i++) dst[t + i] = scalarDecoded(x, o, i);
            } else {
                float id = amax != 0f ? 127f / amax : 0f;
                float dh = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
                rounded(v0, id, dh).intoArray(dst, t);
                rounded(v1, id, dh).intoArray(dst, t + 8);
                rounded(v2, id, dh).intoArray(dst, t + 16);
                rounded(v3, id, dh).intoArray(dst, t + 24);
            }
            if (order == Order.Q4_0_8) {
                for (int i = 0; i < 8; i++) {  // swap groups 1 and 2
                    float g = dst[t + 8 + i];
                    dst[t + 8 + i] = dst[t + 16 + i];
                    dst[t + 16 + i] = g;
                }
            } else if (order == Order.Q8_0_8) {
                System.arraycopy(dst, t, tmp, 0, 32);
                for (int i = 0; i < 8; i++) {
                    dst[t + i] = tmp[4 * i];
                    dst[t + 8 + i] = tmp[4 * i + 1];
                    dst[t + 16 + i] = tmp[4 * i + 2];
                    dst[t + 24 + i] = tmp[4 * i + 3];
                }
            }
        }
    }

    /** {@code dh · rint(v · id)}; |v · id| <= 127, so the magic-number rounding is exact. */
    private static jdk.incubator.vector.FloatVector rounded(jdk.incubator.vector.FloatVector v, float id, float dh) {
        return v.mul(id).add(ROUND).sub(ROUND).mul(dh);
    }

    /** Value i of the block at o, decoded, by the scalar definition of {@link #q8_0}. */
    private static float scalarDecoded(float[] x, int o, int i) {
        float amax = 0;
        for (int k = 0; k < 32; k++) amax = Math.max(amax, Math.abs(x[o + k]));
        float id = amax != 0f ? 127f / amax : 0f;
        float dh = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
        return dh * (float) (int) Math.rint(x[o + i] * id);
    }

    private static void q8_0(float[] x, int xOff, QuantizedActs a, int row) {
        int n = a.cols, nb = n / 32;
        int qo = row * n, bo = row * nb;
        for (int b = 0; b < nb; b++) {
            int o = xOff + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[o + i]));
            float d = amax / 127f;
            float id = amax != 0f ? 127f / amax : 0f;
            a.d[bo + b] = Float.float16ToFloat(Float.floatToFloat16(d));
            for (int i = 0; i < 32; i++) {
                int q = (int) Math.rint(x[o + i] * id);
                a.qs[qo + b * 32 + i] = (byte) q;
                a.qf[qo + b * 32 + i] = q;
            }
            int o0 = qo + b * 32;
            for (int i = 0; i < 8; i++) {
                float l = 0;
                for (int j = 0; j < 4; j++) {
                    a.qp[o0 + 8 * j + i] = a.qf[o0 + 4 * i + j];
                    l += a.qf[o0 + 8 * j + i];
                }
                a.lsum[o0 / 4 + i] = l;
            }
        }
    }
}
