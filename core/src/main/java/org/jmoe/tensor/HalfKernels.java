package org.jmoe.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Kernels for F16 and BF16 weights with float activations. The activations stay float (llama.cpp's CPU path
 * rounds them to F16 before an F16 product; jmoe does not, so an F16 or BF16 weight gives the same result
 * as the same values stored as F32, and no precision is lost on the activations).
 *
 * <p>Every output has the canonical order of {@link MatMul#dotF32} on the decoded weights (decoding is exact).
 * Decode (T = 1) converts a vector of halves at a time in registers and streams 4 rows (BF16) or 2 rows (F16) at once. Prefill (T &gt; 1) decodes
 * an L2-sized chunk of rows once into a per-thread heap buffer and runs the F32 tiles on it, so the
 * conversion costs one pass per weight instead of one per token; the results are bit-identical to the decode
 * path's because both see the same float weights.
 */
final class HalfKernels {
    private static final VectorSpecies<Float> F = MatMul.F;
    private static final int L = F.length();
    /** Halves as short lanes, as many as F has lanes, and the int lanes they widen to. */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(16 * L));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private HalfKernels() {}


    /** Rows [r0, r1) x all T tokens; {@code bf16} selects BF16 over F16. */
    static void rows(boolean bf16, MemorySegment w, long rowBytes, float[] x, int xOff, int xStride, int T,
                     float[] y, int yOff, int yStride, int r0, int r1, int n) {
        if (T == 1) {
            int r = r0;
            if (bf16) {
                for (; r + 4 <= r1; r += 4) k4x1BF16(w, r * rowBytes, rowBytes, x, xOff, y, yOff + r, n);
                for (; r < r1; r++) y[yOff + r] = MatMul.dotBF16(w, r * rowBytes, x, xOff, n);
            } else {
                for (; r + 2 <= r1; r += 2) k2x1F16(w, r * rowBytes, rowBytes, x, xOff, y, yOff + r, n);
                for (; r < r1; r++) y[yOff + r] = MatMul.dotF16(w, r * rowBytes, x, xOff, n);
            }
            return;
        }
        if (bf16) F32Kernels.gemmDecoded(HalfKernels::decodeBF16, w, rowBytes, x, xOff, xStride, T, y, yOff, yStride, r0, r1, n);
        else F32Kernels.gemmDecoded(HalfKernels::decodeF16, w, rowBytes, x, xOff, xStride, T, y, yOff, yStride, r0, r1, n);
    }

    /** {@code L} F16 values at byte {@code off} as floats. */
    static FloatVector loadF16(MemorySegment w, long off) {
        return halfToFloat(ShortVector.fromMemorySegment(S, w, off, LE));
    }

    /** {@code L} BF16 values at byte {@code off} as floats (the bits shifted into a float's upper half). */
    static FloatVector loadBF16(MemorySegment w, long off) {
        return ((IntVector) ShortVector.fromMemorySegment(S, w, off, LE).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** 2^112: rebiases a half's exponent (bias 15) to a float's (bias 127); also scales subnormals exactly. */
    private static final float HALF_REBIAS = 0x1p112f;

    /**
     * Exact IEEE half → float, lane-wise: the half's exponent and mantissa bits shifted into a float's
     * place and multiplied by 2^112 (exact for normals and subnormals, zero stays zero); all-ones exponents
     * (inf, NaN) are mapped to all-ones float exponents, keeping the NaN payload; then the sign. Equals
     * {@link Float#float16ToFloat} bit for bit for every half but NaNs, which stay NaN.
     */
    static FloatVector halfToFloat(ShortVector h) {
        IntVector v = (IntVector) h.convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector em = v.and(0x7fff);
        IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
        IntVector bits = shifted.reinterpretAsFloats().mul(HALF_REBIAS).reinterpretAsInts();
        bits = bits.blend(shifted.or(0x7f800000), em.compare(VectorOperators.GE, 0x7c00));
        return bits.or(v.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    static void decodeF16(MemorySegment w, long base, float[] dst, int dOff, int n) {
        int k = 0;
        for (; k <= n - L; k += L) loadF16(w, base + 2L * k).intoArray(dst, dOff + k);
        for (; k < n; k++) dst[dOff + k] = f16(w, base + 2L * k);
    }

    static void decodeBF16(MemorySegment w, long base, float[] dst, int dOff, int n) {
        int k = 0;
        for (; k <= n - L; k += L) loadBF16(w, base + 2L * k).intoArray(dst, dOff + k);
        for (; k < n; k++) dst[dOff + k] = bf16(w, base + 2L * k);
    }

    static float bf16(MemorySegment w, long off) {
        return Float.intBitsToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, off) << 16);
    }

    static float f16(MemorySegment w, long off) {
        return Float.float16ToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, off));
    }

    /** Two rows: the conversion is large enough in compiled code that a 4-row body stops being inlined whole. */
    private static void k2x1F16(MemorySegment w, long b0, long rb, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        long b1 = b0 + rb;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + k);
            long o = 2L * k;
            a0 = loadF16(w, b0 + o).fma(xv, a0);
            a1 = loadF16(w, b1 + o).fma(xv, a1);
        }
        float s0 = MatMul.sumLanes(a0), s1 = MatMul.sumLanes(a1);
        for (; k < n; k++) {
            float xk = x[xo + k];
            long o = 2L * k;
            s0 = Math.fma(f16(w, b0 + o), xk, s0);
            s1 = Math.fma(f16(w, b1 + o), xk, s1);
        }
        y[yo] = s0; y[yo + 1] = s1;
    }

    private static void k4x1BF16(MemorySegment w, long b0, long rb, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long b1 = b0 + rb, b2 = b1 + rb, b3 = b2 + rb;
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + k);
            long o = 2L * k;
            a0 = loadBF16(w, b0 + o).fma(xv, a0);
            a1 = loadBF16(w, b1 + o).fma(xv, a1);
            a2 = loadBF16(w, b2 + o).fma(xv, a2);
            a3 = loadBF16(w, b3 + o).fma(xv, a3);
        }
        float s0 = MatMul.sumLanes(a0), s1 = MatMul.sumLanes(a1), s2 = MatMul.sumLanes(a2), s3 = MatMul.sumLanes(a3);
        for (; k < n; k++) {
            float xk = x[xo + k];
            long o = 2L * k;
            s0 = Math.fma(bf16(w, b0 + o), xk, s0);
            s1 = Math.fma(bf16(w, b1 + o), xk, s1);
            s2 = Math.fma(bf16(w, b2 + o), xk, s2);
            s3 = Math.fma(bf16(w, b3 + o), xk, s3);
        }
        y[yo] = s0; y[yo + 1] = s1; y[yo + 2] = s2; y[yo + 3] = s3;
    }
}
