package org.jmoe.tensor.quant;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
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
 */
public final class Q8_0 implements BlockFormat {
    static final VectorSpecies<Byte> B64 = ByteVector.SPECIES_64;
    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
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
            for (int i = 0; i < QK; i++) dst.set(ValueLayout.JAVA_BYTE, bo + 2 + i, (byte) Math.round(src[o + i] * id));
        }
    }

    @Override
    public void dotRows(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t,
                        int r0, int r1, float[] out, int outOff) {
        int nb = cols / QK;
        float[] qf = acts.qf;
        float[] da = acts.d;
        int qo = t * cols, dbo = t * nb;
        for (int r = r0; r < r1; r++) {
            long ro = wOffset + r * rowBytes;
            FloatVector acc = FloatVector.zero(F);
            for (int b = 0; b < nb; b++) {
                long bo = ro + (long) b * BYTES;
                int ao = qo + b * QK;
                FloatVector s = block(wv(w, bo + 2), wv(w, bo + 10), wv(w, bo + 18), wv(w, bo + 26), qf, ao);
                acc = s.fma(FloatVector.broadcast(F, half(w, bo) * da[dbo + b]), acc);
            }
            out[outOff + r - r0] = MatMul.sumLanes(acc);
        }
    }

    @Override
    public void dotTokens(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t0, int nt,
                          int r, float[] out, int outOff, int outStride) {
        int i = 0;
        for (; i + 4 <= nt; i += 4) dot4(w, wOffset + r * rowBytes, cols, acts, t0 + i, out, outOff + i * outStride, outStride);
        for (; i < nt; i++) dotRows(w, wOffset, rowBytes, cols, acts, t0 + i, r, r + 1, out, outOff + i * outStride);
    }

    /** One weight row x 4 tokens: each block is decoded once; per output the same order as {@link #dotRows}. */
    private static void dot4(MemorySegment w, long ro, int cols, QuantizedActs acts, int t, float[] out, int oo, int os) {
        int nb = cols / QK;
        float[] qf = acts.qf, da = acts.d;
        int a0 = t * cols, a1 = a0 + cols, a2 = a1 + cols, a3 = a2 + cols;
        int d0 = t * nb, d1 = d0 + nb, d2 = d1 + nb, d3 = d2 + nb;
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
        for (int b = 0; b < nb; b++) {
            long bo = ro + (long) b * BYTES;
            int k = b * QK;
            FloatVector w0 = wv(w, bo + 2), w1 = wv(w, bo + 10), w2 = wv(w, bo + 18), w3 = wv(w, bo + 26);
            float dw = half(w, bo);
            c0 = block(w0, w1, w2, w3, qf, a0 + k).fma(FloatVector.broadcast(F, dw * da[d0 + b]), c0);
            c1 = block(w0, w1, w2, w3, qf, a1 + k).fma(FloatVector.broadcast(F, dw * da[d1 + b]), c1);
            c2 = block(w0, w1, w2, w3, qf, a2 + k).fma(FloatVector.broadcast(F, dw * da[d2 + b]), c2);
            c3 = block(w0, w1, w2, w3, qf, a3 + k).fma(FloatVector.broadcast(F, dw * da[d3 + b]), c3);
        }
        out[oo] = MatMul.sumLanes(c0);
        out[oo + os] = MatMul.sumLanes(c1);
        out[oo + 2 * os] = MatMul.sumLanes(c2);
        out[oo + 3 * os] = MatMul.sumLanes(c3);
    }

    /** 8 int8 weights at byte {@code off} as floats. */
    private static FloatVector wv(MemorySegment w, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(B64, w, off, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    /** Σ over the block's 32 values of w·a as 8 exact integer lanes (the same FMA chain as {@link #dotRows}). */
    static FloatVector block(FloatVector w0, FloatVector w1, FloatVector w2, FloatVector w3, float[] qf, int a) {
        FloatVector s = w0.fma(FloatVector.fromArray(F, qf, a), FloatVector.zero(F));
        s = w1.fma(FloatVector.fromArray(F, qf, a + 8), s);
        s = w2.fma(FloatVector.fromArray(F, qf, a + 16), s);
        return w3.fma(FloatVector.fromArray(F, qf, a + 24), s);
    }
}
