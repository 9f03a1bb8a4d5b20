package org.jmoe.tensor.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * llama.cpp's reference quantizers for Q4_K and Q6_K (no importance matrix), step for step in float
 * arithmetic so that files come out as llama-quantize writes them: per sub-block a scale search
 * ({@code make_qkx2_quants}: asymmetric, weighted least squares over 21 candidate scales for Q4_K;
 * {@code make_qx_quants}: symmetric, 19 candidates for Q6_K), then the sub-block scales themselves quantized
 * to 6 or 8 bits against a super-block scale, and the values re-quantized with the final scales.
 */
final class KQuantizer {
    private KQuantizer() {}

    private static final float GROUP_MAX_EPS = 1e-15f;

    /** Round half to even, as llama.cpp's nearest_int. */
    private static int nearest(float v) {
        return (int) Math.rint(v);
    }

    private static float fp16(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }

    /** Weighted asymmetric search; writes levels to l[off..off+n), returns {scale, -min}. */
    private static float[] makeQkx2(int n, int nmax, float[] x, int xo, float[] weights, int[] l, int lo, int[] laux,
                                    float rmin, float rdelta, int nstep) {
        float min = x[xo], max = x[xo];
        float sumW = weights[0];
        float sumX = sumW * x[xo];
        for (int i = 1; i < n; i++) {
            if (x[xo + i] < min) min = x[xo + i];
            if (x[xo + i] > max) max = x[xo + i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[xo + i];
        }
        if (min > 0) min = 0;
        if (max == min) {
            for (int i = 0; i < n; i++) l[lo + i] = 0;
            return new float[]{0f, -min};
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int q = Math.max(0, Math.min(nmax, nearest(iscale * (x[xo + i] - min))));
            l[lo + i] = q;
            float diff = scale * q + min - x[xo + i];
            bestError += weights[i] * (diff * diff);
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++) {
                int q = Math.max(0, Math.min(nmax, nearest(iscale * (x[xo + i] - min))));
                laux[i] = q;
                float w = weights[i];
                sumL += w * q;
                sumL2 += w * q * q;
                sumXL += w * q * x[xo + i];
            }
            float d = sumW * sumL2 - sumL * sumL;
            if (d > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / d;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / d;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * laux[i] + thisMin - x[xo + i];
                    curError += weights[i] * (diff * diff);
                }
                if (curError < bestError) {
                    System.arraycopy(laux, 0, l, lo, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        return new float[]{scale, -min};
    }

    /** Q4_K: 8 sub-blocks of 32, 6-bit scales and mins, 4-bit values. */
    static void quantizeQ4K(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        quantizeScaleMin(src, srcOff, n, dst, offset, false);
    }

    /** Q5_K: as Q4_K with 5-bit values (a different search range: -0.5 + 0.1 i, 16 candidates). */
    static void quantizeQ5K(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        quantizeScaleMin(src, srcOff, n, dst, offset, true);
    }

    private static void quantizeScaleMin(float[] src, int srcOff, int n, MemorySegment dst, long offset, boolean five) {
        int nmax = five ? 31 : 15, blockBytes = five ? 176 : 144;
        long qsOff = five ? 48 : 16;
        int[] l = new int[256], laux = new int[32];
        float[] weights = new float[32], mins = new float[8], scales = new float[8];
        for (int b = 0; b < n / 256; b++) {
            int xo = srcOff + b * 256;
            long bo = offset + (long) b * blockBytes;
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++) {
                float sumX2 = 0;
                for (int i = 0; i < 32; i++) sumX2 += src[xo + 32 * j + i] * src[xo + 32 * j + i];
                float avX = (float) Math.sqrt(sumX2 / 32);
                for (int i = 0; i < 32; i++) weights[i] = avX + Math.abs(src[xo + 32 * j + i]);
                float[] sm = five ? makeQkx2(32, 31, src, xo + 32 * j, weights, l, 32 * j, laux, -0.5f, 0.1f, 15)
                        : makeQkx2(32, 15, src, xo + 32 * j, weights, l, 32 * j, laux, -1f, 0.1f, 20);
                scales[j] = sm[0];
                mins[j] = sm[1];
                if (sm[0] > maxScale) maxScale = sm[0];
                if (sm[1] > maxMin) maxMin = sm[1];
            }
            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            byte[] sc = new byte[12];
            for (int j = 0; j < 8; j++) {
                int ls = Math.min(63, nearest(invScale * scales[j]) & 0xff);
                int lm = Math.min(63, nearest(invMin * mins[j]) & 0xff);
                if (j < 4) {
                    sc[j] = (byte) ls;
                    sc[j + 4] = (byte) lm;
                } else {
                    sc[j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                    sc[j - 4] |= (byte) ((ls >> 4) << 6);
                    sc[j] |= (byte) ((lm >> 4) << 6);
                }
            }
            short dh = Float.floatToFloat16(maxScale / 63f), mh = Float.floatToFloat16(maxMin / 63f);
            dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo, dh);
            dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo + 2, mh);
            for (int i = 0; i < 12; i++) dst.set(ValueLayout.JAVA_BYTE, bo + 4 + i, sc[i]);
            for (int j = 0; j < 8; j++) {
                int s6, m6;
                if (j < 4) {
                    s6 = sc[j] & 63;
                    m6 = sc[j + 4] & 63;
                } else {
                    s6 = (sc[j + 4] & 0xF) | (((sc[j - 4] & 0xff) >> 6) << 4);
                    m6 = ((sc[j + 4] & 0xff) >> 4) | (((sc[j] & 0xff) >> 6) << 4);
                }
                float d = Float.float16ToFloat(dh) * s6;
                if (d == 0f) continue;
                float dm = Float.float16ToFloat(mh) * m6;
                for (int i = 0; i < 32; i++) l[32 * j + i] = Math.max(0, Math.min(nmax, nearest((src[xo + 32 * j + i] + dm) / d)));
            }
            int[] qh = new int[32];
            for (int c = 0; c < 4; c++) {
                for (int i = 0; i < 32; i++) {
                    int l1 = l[c * 64 + i], l2 = l[c * 64 + 32 + i];
                    if (l1 > 15) { l1 -= 16; qh[i] |= 1 << (2 * c); }
                    if (l2 > 15) { l2 -= 16; qh[i] |= 2 << (2 * c); }
                    dst.set(ValueLayout.JAVA_BYTE, bo + qsOff + c * 32 + i, (byte) (l1 | (l2 << 4)));
                }
            }
            if (five) for (int i = 0; i < 32; i++) dst.set(ValueLayout.JAVA_BYTE, bo + 16 + i, (byte) qh[i]);
        }
    }

    /** Symmetric search for a sub-block of 16 (rmse_type 1: weights x²); levels in l as q + nmax. */
    private static float makeQx(int n, int nmax, float[] x, int xo, int[] l, int lo) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) { amax = ax; max = x[xo + i]; }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) l[lo + i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        float sumLX = 0, sumL2 = 0;
        for (int i = 0; i < n; i++) {
            int q = Math.max(-nmax, Math.min(nmax - 1, nearest(iscale * x[xo + i])));
            l[lo + i] = q + nmax;
            float w = x[xo + i] * x[xo + i];
            sumLX += w * x[xo + i] * q;
            sumL2 += w * q * q;
        }
        float scale = sumL2 != 0 ? sumLX / sumL2 : 0f;
        float best = scale * sumLX;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumLX = 0;
            sumL2 = 0;
            for (int i = 0; i < n; i++) {
                int q = Math.max(-nmax, Math.min(nmax - 1, nearest(iscale * x[xo + i])));
                float w = x[xo + i] * x[xo + i];
                sumLX += w * x[xo + i] * q;
                sumL2 += w * q * q;
            }
            if (sumL2 > 0 && sumLX * sumLX > best * sumL2) {
                for (int i = 0; i < n; i++) l[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearest(iscale * x[xo + i])));
                scale = sumLX / sumL2;
                best = scale * sumLX;
            }
        }
        return scale;
    }

    /** Q6_K: 16 sub-blocks of 16, int8 scales. */
    static void quantizeQ6K(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        int[] l = new int[256];
        float[] scales = new float[16];
        for (int b = 0; b < n / 256; b++) {
            int xo = srcOff + b * 256;
            long bo = offset + (long) b * 210;
            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < 16; ib++) {
                float s = makeQx(16, 32, src, xo + 16 * ib, l, 16 * ib);
                scales[ib] = s;
                if (Math.abs(s) > maxAbsScale) {
                    maxAbsScale = Math.abs(s);
                    maxScale = s;
                }
            }
            if (maxAbsScale < GROUP_MAX_EPS) {
                for (int i = 0; i < 210; i++) dst.set(ValueLayout.JAVA_BYTE, bo + i, (byte) 0);
                continue;
            }
            float iscale = -128f / maxScale;
            short dh = Float.floatToFloat16(1 / iscale);
            dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo + 208, dh);
            byte[] sc = new byte[16];
            for (int ib = 0; ib < 16; ib++) {
                sc[ib] = (byte) Math.min(127, nearest(iscale * scales[ib]));
                dst.set(ValueLayout.JAVA_BYTE, bo + 192 + ib, sc[ib]);
            }
            for (int j = 0; j < 16; j++) {
                float d = Float.float16ToFloat(dh) * sc[j];
                if (d == 0f) continue;
                for (int i = 0; i < 16; i++) l[16 * j + i] = Math.max(-32, Math.min(31, nearest(src[xo + 16 * j + i] / d))) + 32;
            }
            for (int h = 0; h < 2; h++) {
                int j = h * 128;
                for (int i = 0; i < 32; i++) {
                    int q1 = l[j + i] & 0xF, q2 = l[j + i + 32] & 0xF, q3 = l[j + i + 64] & 0xF, q4 = l[j + i + 96] & 0xF;
                    dst.set(ValueLayout.JAVA_BYTE, bo + h * 64 + i, (byte) (q1 | (q3 << 4)));
                    dst.set(ValueLayout.JAVA_BYTE, bo + h * 64 + 32 + i, (byte) (q2 | (q4 << 4)));
                    dst.set(ValueLayout.JAVA_BYTE, bo + 128 + h * 32 + i, (byte) ((l[j + i] >> 4) | ((l[j + i + 32] >> 4) << 2)
                            | ((l[j + i + 64] >> 4) << 4) | ((l[j + i + 96] >> 4) << 6)));
                }
            }
        }
    }
}
