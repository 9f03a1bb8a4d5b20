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
 * llama.cpp's Q4_0: blocks of 32 values, 18 bytes: an fp16 scale {@code d}, then 16 bytes whose low nibbles
 * are values 0..15 and high nibbles values 16..31; value = d·(q − 8). Reference quantizer: {@code m} = the
 * value of largest magnitude (sign kept), {@code d = m / −8}, {@code q = min(15, (int)(x/d + 8.5))}.
 * Dot with Q8_0 activations: {@code Σ_blocks d_w·d_a·Σ (q_w − 8)·q_a}.
 *
 * <p>{@code MatMul} runs this format through {@code QuantKernels} (exactly decoded floats, the F32 tiles for
 * prefill); the integer-sum dots here define the same products in exact block arithmetic and are what
 * {@code BlockFormatTest} checks the layout with.
 */
public final class Q4_0 implements BlockFormat {
    static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final int QK = 32, BYTES = 18;

    static final VectorSpecies<Integer> I = IntVector.SPECIES_256;

    @Override
    public DType type() { return DType.Q4_0; }

    @Override
    public ActFormat actFormat() { return ActFormat.Q8_0; }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        Q8_0.checkLength(n, QK);
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            float d = Q8_0.half(src, o);
            for (int i = 0; i < 16; i++) {
                int v = src.get(ValueLayout.JAVA_BYTE, o + 2 + i) & 0xff;
                dst[dstOff + b * QK + i] = d * ((v & 0x0f) - 8);
                dst[dstOff + b * QK + i + 16] = d * ((v >>> 4) - 8);
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        Q8_0.checkLength(n, QK);
        for (int b = 0; b < n / QK; b++) {
            int o = srcOff + b * QK;
            float amax = 0, max = 0;
            for (int i = 0; i < QK; i++) {
                float v = src[o + i];
                if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
            }
            float d = max / -8f;
            float id = d != 0f ? 1f / d : 0f;
            long bo = offset + (long) b * BYTES;
            dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo, Float.floatToFloat16(d));
            for (int i = 0; i < 16; i++) {
                int q0 = Math.min(15, (int) (byte) (int) (src[o + i] * id + 8.5f));
                int q1 = Math.min(15, (int) (byte) (int) (src[o + i + 16] * id + 8.5f));
                dst.set(ValueLayout.JAVA_BYTE, bo + 2 + i, (byte) (q0 | (q1 << 4)));
            }
        }
    }

    /**
     * Per block, lane i accumulates the exact integer Σ_c q[8c+i]·a[8c+i] over the four 8-value chunks c (bytes
     * 0..7 give values 0..7 in their low nibbles and 16..23 in their high ones, bytes 8..15 values 8..15 and
     * 24..31), then subtracts 8·Σ_c a[8c+i] ({@link QuantizedActs#lsum}), giving Σ (q − 8)·a exactly; the lanes
     * are scaled by d_w·d_a with one FMA per block and summed in {@link MatMul#sumLanes}'s fixed tree.
     */
    @Override
    public void dotRows(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t,
                        int r0, int r1, float[] out, int outOff) {
        Q8_0.checkLength(cols, QK);
        for (int r = r0; r < r1; r++) out[outOff + r - r0] = dotRow(w, wOffset + r * rowBytes, cols, acts, t);
    }

    private static float dotRow(MemorySegment w, long ro, int cols, QuantizedActs acts, int t) {
        int nb = cols / QK;
        float[] qf = acts.qf, ls = acts.lsum, da = acts.d;
        int qo = t * cols, dbo = t * nb;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = ro + (long) b * BYTES;
            int ao = qo + b * QK;
            IntVector b0 = (IntVector) ByteVector.fromMemorySegment(Q8_0.B64, w, bo + 2, Q8_0.LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            IntVector b1 = (IntVector) ByteVector.fromMemorySegment(Q8_0.B64, w, bo + 10, Q8_0.LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            FloatVector s = Q8_0.i2f(b0.and(15)).mul(FloatVector.fromArray(F, qf, ao));
            s = Q8_0.i2f(b1.and(15)).fma(FloatVector.fromArray(F, qf, ao + 8), s);
            s = Q8_0.i2f(b0.lanewise(VectorOperators.LSHR, 4)).fma(FloatVector.fromArray(F, qf, ao + 16), s);
            s = Q8_0.i2f(b1.lanewise(VectorOperators.LSHR, 4)).fma(FloatVector.fromArray(F, qf, ao + 24), s);
            s = FloatVector.fromArray(F, ls, ao >> 2).fma(MINUS8, s);
            acc = s.fma(FloatVector.broadcast(F, Q8_0.half(w, bo) * da[dbo + b]), acc);
        }
        return MatMul.sumLanes(acc);
    }

    private static final FloatVector MINUS8 = FloatVector.broadcast(F, -8f);
}
