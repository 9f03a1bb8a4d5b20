package org.jmoe.tensor.quant;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.MatMul;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * llama.cpp's other 32-value formats, the types llama-quantize falls back to when a row is not a multiple
 * of 256 (such as Pangu's 1344-wide experts):
 * <ul>
 *   <li>Q5_0 (22 bytes): fp16 d, 32 high bits, 16 bytes of nibbles; value = d·(q − 16); dot with Q8_0.</li>
 *   <li>Q5_1 (24 bytes): fp16 d, fp16 m, 32 high bits, nibbles; value = d·q + m; dot with Q8_1.</li>
 *   <li>Q4_1 (20 bytes): fp16 d, fp16 m, nibbles; value = d·q + m; dot with Q8_1.</li>
 * </ul>
 * Nibble j of a block holds values j (low) and j+16 (high); Q5 high bits: bit j of qh for value j.
 * Dots use llama.cpp's integer form: {@code d_w·d_a·Σ q_w·q_a (+ m_w·s_a)}, one block at a time in order.
 */
final class LegacyQuants implements BlockFormat {
    private final DType type;
    private final boolean hasMin;
    private final boolean fiveBit;
    private final int bytes;
    private final int qsOff;

    LegacyQuants(DType type) {
        this.type = type;
        this.hasMin = type != DType.Q5_0;
        this.fiveBit = type != DType.Q4_1;
        this.bytes = type.blockBytes();
        this.qsOff = 2 + (hasMin ? 2 : 0) + (fiveBit ? 4 : 0);
    }

    @Override
    public DType type() { return type; }

    @Override
    public ActFormat actFormat() { return hasMin ? ActFormat.Q8_1 : ActFormat.Q8_0; }

    /** The 32 quants of the block at {@code bo}, centred for Q5_0 (q − 16). */
    private void quants(MemorySegment s, long bo, int[] q) {
        int qh = fiveBit ? s.get(ValueLayout.JAVA_INT_UNALIGNED, bo + 2 + (hasMin ? 2 : 0)) : 0;
        for (int j = 0; j < 16; j++) {
            int v = s.get(ValueLayout.JAVA_BYTE, bo + qsOff + j) & 0xff;
            int lo = v & 0x0f, hi = v >>> 4;
            if (fiveBit) {
                lo |= ((qh >>> j) & 1) << 4;
                hi |= ((qh >>> (j + 16)) & 1) << 4;
            }
            q[j] = hasMin ? lo : lo - 16;
            q[j + 16] = hasMin ? hi : hi - 16;
        }
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        Q8_0.checkLength(n, 32);
        int[] q = new int[32];
        for (int b = 0; b < n / 32; b++) {
            long bo = offset + (long) b * bytes;
            float d = Q8_0.half(src, bo), m = hasMin ? Q8_0.half(src, bo + 2) : 0f;
            quants(src, bo, q);
            for (int i = 0; i < 32; i++) dst[dstOff + b * 32 + i] = hasMin ? d * q[i] + m : d * q[i];
        }
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        Q8_0.checkLength(n, 32);
        int levels = fiveBit ? 31 : 15;
        for (int b = 0; b < n / 32; b++) {
            int o = srcOff + b * 32;
            long bo = offset + (long) b * bytes;
            int[] q = new int[32];
            if (hasMin) {
                float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
                for (int i = 0; i < 32; i++) { min = Math.min(min, src[o + i]); max = Math.max(max, src[o + i]); }
                float d = (max - min) / levels;
                float id = d != 0f ? 1f / d : 0f;
                dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo, Float.floatToFloat16(d));
                dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo + 2, Float.floatToFloat16(min));
                for (int i = 0; i < 32; i++) q[i] = Math.min(levels, (int) ((src[o + i] - min) * id + 0.5f) & 0xff);
            } else {
                float amax = 0, max = 0;
                for (int i = 0; i < 32; i++) if (Math.abs(src[o + i]) > amax) { amax = Math.abs(src[o + i]); max = src[o + i]; }
                float d = max / -16f;
                float id = d != 0f ? 1f / d : 0f;
                dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo, Float.floatToFloat16(d));
                for (int i = 0; i < 32; i++) q[i] = Math.min(31, (byte) (int) (src[o + i] * id + 16.5f));
            }
            int qh = 0;
            for (int j = 0; j < 16; j++) {
                dst.set(ValueLayout.JAVA_BYTE, bo + qsOff + j, (byte) ((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4)));
                qh |= ((q[j] >>> 4) & 1) << j;
                qh |= ((q[j + 16] >>> 4) & 1) << (j + 16);
            }
            if (fiveBit) dst.set(ValueLayout.JAVA_INT_UNALIGNED, bo + 2 + (hasMin ? 2 : 0), qh);
        }
    }

    /**
     * Per block, lane i accumulates the exact integer Σ_c q[8c+i]·a[8c+i] over the four 8-value chunks c, (Q5_0:
     * minus 16·Σ_c a[8c+i], {@link QuantizedActs#lsum}); the lanes are scaled by d_w·d_a with one FMA per block
     * and summed in {@link MatMul#sumLanes}'s fixed tree; the min terms m_w·s_a are summed in block order and
     * added last. Nothing depends on r0, r1 or t.
     */
    @Override
    public void dotRows(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t,
                        int r0, int r1, float[] out, int outOff) {
        Q8_0.checkLength(cols, 32);
        for (int r = r0; r < r1; r++) out[outOff + r - r0] = dotRow(w, wOffset + r * rowBytes, cols, acts, t);
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    private static final IntVector BIT = IntVector.fromArray(I, new int[]{1, 2, 4, 8, 16, 32, 64, 128}, 0);
    private static final FloatVector HIGH_SCALE = FloatVector.fromArray(F, new float[]{16, 8, 4, 2, 1, 0.5f, 0.25f, 0.125f}, 0);
    private static final FloatVector MINUS16 = FloatVector.broadcast(F, -16f);

    private float dotRow(MemorySegment w, long ro, int cols, QuantizedActs acts, int t) {
        int nb = cols / 32;
        float[] qf = acts.qf, ls = acts.lsum, da = acts.d, sa = acts.s;
        int qo = t * cols, dbo = t * nb;
        long qhOff = 2 + (hasMin ? 2 : 0);
        FloatVector acc = FloatVector.zero(F);
        float mins = 0;
        for (int b = 0; b < nb; b++) {
            long bo = ro + (long) b * bytes;
            int ao = qo + b * 32;
            IntVector b0 = (IntVector) ByteVector.fromMemorySegment(Q8_0.B64, w, bo + qsOff, Q8_0.LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            IntVector b1 = (IntVector) ByteVector.fromMemorySegment(Q8_0.B64, w, bo + qsOff + 8, Q8_0.LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            FloatVector q0 = Q8_0.i2f(b0.and(15)), q1 = Q8_0.i2f(b1.and(15));
            FloatVector q2 = Q8_0.i2f(b0.lanewise(VectorOperators.LSHR, 4)), q3 = Q8_0.i2f(b1.lanewise(VectorOperators.LSHR, 4));
            if (fiveBit) {
                int qh = w.get(ValueLayout.JAVA_INT_UNALIGNED, bo + qhOff);
                q0 = high(qh).fma(HIGH_SCALE, q0);
                q1 = high(qh >>> 8).fma(HIGH_SCALE, q1);
                q2 = high(qh >>> 16).fma(HIGH_SCALE, q2);
                q3 = high(qh >>> 24).fma(HIGH_SCALE, q3);
            }
            FloatVector s = q0.mul(FloatVector.fromArray(F, qf, ao));
            s = q1.fma(FloatVector.fromArray(F, qf, ao + 8), s);
            s = q2.fma(FloatVector.fromArray(F, qf, ao + 16), s);
            s = q3.fma(FloatVector.fromArray(F, qf, ao + 24), s);
            if (!hasMin) s = FloatVector.fromArray(F, ls, ao >> 2).fma(MINUS16, s);
            acc = s.fma(FloatVector.broadcast(F, Q8_0.half(w, bo) * da[dbo + b]), acc);
            if (hasMin) mins += Q8_0.half(w, bo + 2) * sa[dbo + b];
        }
        return MatMul.sumLanes(acc) + mins;
    }

    /** Bit i of the low byte of {@code bits} as 2^i or 0 in lane i (times {@link #HIGH_SCALE}: 16 or 0, exact). */
    private static FloatVector high(int bits) {
        return Q8_0.i2f(IntVector.broadcast(I, bits).and(BIT));
    }
}
