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
import java.nio.ByteOrder;

/**
 * llama.cpp's Q8_0: blocks of 32 values, 34 bytes: an fp16 scale {@code d}, then 32 int8 {@code q};
 * value = d·q. Reference quantizer: {@code d = amax/127}, {@code q = round(x/d)} (half away from zero).
 * Dot with Q8_0 activations: {@code Σ_blocks d_w·d_a·Σ q_w·q_a}, the integer sums exact in float lanes.
 *
 * <p>{@code MatMul} runs this format through {@code QuantKernels} (exactly decoded floats, the F32 tiles for
 * prefill); the integer-sum dots here define the same products in exact block arithmetic and are what
 * {@code BlockFormatTest} checks the layout with.
 */
public final class Q8_0 implements BlockFormat {
    static final VectorSpecies<Byte> B64 = ByteVector.SPECIES_64;
    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final int QK = 32, BYTES = 34;

    @Override
    public DType type() { return DType.Q8_0; }

    @Override
    public ActFormat actFormat() { return ActFormat.Q8_0; }

    static void checkLength(int n, int block) {
        if (n % block != 0) throw new IllegalArgumentException("row length " + n + " is not a multiple of the block size " + block);
    }

    static float half(MemorySegment s, long off) {
        return Float.float16ToFloat(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, off));
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkLength(n, QK);
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            float d = half(src, o);
            for (int i = 0; i < QK; i++) dst[dstOff + b * QK + i] = d * src.get(ValueLayout.JAVA_BYTE, o + 2 + i);
        }
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkLength(n, QK);
        for (int b = 0; b < n / QK; b++) {
            int o = srcOff + b * QK;
            float amax = 0;
            for (int i = 0; i < QK; i++) amax = Math.max(amax, Math.abs(src[o + i]));
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            long bo = offset + (long) b * BYTES;
            dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo, Float.floatToFloat16(d));
            for (int i = 0; i < QK; i++) dst.set(ValueLayout.JAVA_BYTE, bo + 2 + i, (byte) roundf(src[o + i] * id));
        }
    }

    /** C's {@code roundf}: nearest integer, halfway cases away from zero (Math.round rounds them up). */
    static int roundf(float x) {
        return (int) Math.copySign(Math.floor(Math.abs((double) x) + 0.5), x);
    }

    @Override
    public void dotRows(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t,
                        int r0, int r1, float[] out, int outOff) {
        checkLength(cols, QK);
        for (int r = r0; r < r1; r++) out[outOff + r - r0] = dotRow(w, wOffset + r * rowBytes, cols, acts, t);
    }

    /*
     * Lane layout: the block's 32 quants are loaded as 8 int lanes of 4 bytes each; byte j of lane i is value
     * 4i + j, extracted by shifts, against the activations in the same interleaved order (QuantizedActs.qp).
     * Per block, lane i holds Σ_j q_w·q_a over values 4i..4i+3, an exact integer; the lanes are scaled by
     * d_w·d_a and accumulated with one FMA per block, and summed at the end in MatMul.sumLanes's fixed tree.
     * dotRow and dotTokens both run this same sequence per output.
     */

    /** One row: the per-output sequence described above. */
    private static float dotRow(MemorySegment w, long ro, int cols, QuantizedActs acts, int t) {
        int nb = cols / QK;
        float[] qp = acts.qp, da = acts.d;
        int qo = t * cols, dbo = t * nb;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = ro + (long) b * BYTES;
            int ao = qo + b * QK;
            FloatVector s = block(IntVector.fromMemorySegment(I, w, bo + 2, LE), FloatVector.fromArray(F, qp, ao),
                    FloatVector.fromArray(F, qp, ao + 8), FloatVector.fromArray(F, qp, ao + 16), FloatVector.fromArray(F, qp, ao + 24));
            acc = s.fma(FloatVector.broadcast(F, half(w, bo) * da[dbo + b]), acc);
        }
        return MatMul.sumLanes(acc);
    }

    /** Σ_j byte_j(v)·a_j in 8 exact integer lanes; byte j of each lane sign-extended by two shifts. */
    static FloatVector block(IntVector v, FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3) {
        FloatVector s = i2f(v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)).mul(a0);
        s = i2f(v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 24)).fma(a1, s);
        s = i2f(v.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 24)).fma(a2, s);
        return i2f(v.lanewise(VectorOperators.ASHR, 24)).fma(a3, s);
    }

    static FloatVector i2f(IntVector v) {
        return (FloatVector) v.convertShape(VectorOperators.I2F, F, 0);
    }

    @Override
    public void dotTokens(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t0, int nt,
                          int r, float[] out, int outOff, int outStride) {
        int i = 0;
        for (; i + 4 <= nt; i += 4) dot4Tokens(w, wOffset + r * rowBytes, cols, acts, t0 + i, out, outOff + i * outStride, outStride);
        for (; i < nt; i++) out[outOff + i * outStride] = dotRow(w, wOffset + r * rowBytes, cols, acts, t0 + i);
    }

    /** One weight row x 4 tokens: each block is loaded once; per output the same sequence as {@link #dotRow}. */
    private static void dot4Tokens(MemorySegment w, long ro, int cols, QuantizedActs acts, int t, float[] out, int oo, int os) {
        int nb = cols / QK;
        float[] qp = acts.qp, da = acts.d;
        int a0 = t * cols, a1 = a0 + cols, a2 = a1 + cols, a3 = a2 + cols;
        int d0 = t * nb, d1 = d0 + nb, d2 = d1 + nb, d3 = d2 + nb;
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
        for (int b = 0; b < nb; b++) {
            long bo = ro + (long) b * BYTES;
            int k = b * QK;
            IntVector v = IntVector.fromMemorySegment(I, w, bo + 2, LE);
            // Decode the block's bytes once and reuse them for the four tokens (same products as block()).
            FloatVector w0 = i2f(v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24));
            FloatVector w1 = i2f(v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 24));
            FloatVector w2 = i2f(v.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 24));
            FloatVector w3 = i2f(v.lanewise(VectorOperators.ASHR, 24));
            float dw = half(w, bo);
            c0 = decoded(w0, w1, w2, w3, qp, a0 + k).fma(FloatVector.broadcast(F, dw * da[d0 + b]), c0);
            c1 = decoded(w0, w1, w2, w3, qp, a1 + k).fma(FloatVector.broadcast(F, dw * da[d1 + b]), c1);
            c2 = decoded(w0, w1, w2, w3, qp, a2 + k).fma(FloatVector.broadcast(F, dw * da[d2 + b]), c2);
            c3 = decoded(w0, w1, w2, w3, qp, a3 + k).fma(FloatVector.broadcast(F, dw * da[d3 + b]), c3);
        }
        out[oo] = MatMul.sumLanes(c0);
        out[oo + os] = MatMul.sumLanes(c1);
        out[oo + 2 * os] = MatMul.sumLanes(c2);
        out[oo + 3 * os] = MatMul.sumLanes(c3);
    }

    /** {@link #block} on weights already decoded to four float vectors: the same multiply and FMA chain. */
    private static FloatVector decoded(FloatVector w0, FloatVector w1, FloatVector w2, FloatVector w3, float[] qp, int a) {
        FloatVector s = w0.mul(FloatVector.fromArray(F, qp, a));
        s = w1.fma(FloatVector.fromArray(F, qp, a + 8), s);
        s = w2.fma(FloatVector.fromArray(F, qp, a + 16), s);
        return w3.fma(FloatVector.fromArray(F, qp, a + 24), s);
    }

    private static FloatVector block(IntVector v, float[] qp, int a) {
        return block(v, FloatVector.fromArray(F, qp, a), FloatVector.fromArray(F, qp, a + 8),
                FloatVector.fromArray(F, qp, a + 16), FloatVector.fromArray(F, qp, a + 24));
    }
}
