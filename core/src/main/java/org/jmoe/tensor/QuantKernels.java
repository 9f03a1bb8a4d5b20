package org.jmoe.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * Kernels for Q8_0 and Q4_0 weights against Q8_0-quantized activations, as float products of decoded values.
 *
 * <p><b>Exactness.</b> A Q8_0 weight {@code d·q} (fp16 {@code d}, 11 significant bits, times an int8) and a
 * Q4_0 weight {@code d·(q − 8)} need at most 19 significant bits, so decoding them to float is exact; so is
 * decoding a Q8_0 activation ({@link org.jmoe.tensor.quant.ActQuant#decodedQ8_0}). Every output is therefore the canonical
 * {@link MatMul#dotF32} of two exactly decoded vectors: the activations are quantized exactly as llama.cpp's CPU
 * backend does, and the only difference from its integer block sums is float rounding of the products and
 * sums (≈1e-7 relative).
 *
 * <p><b>Batch invariance.</b> Decode (T = 1) converts the weights in registers, a vector of {@link MatMul#F}
 * at a time, and streams 4 rows at once; prefill
 * (T &gt; 1) decodes an L2-sized chunk of rows once into a per-thread heap buffer and runs
 * {@link F32Kernels}'s register tiles on it, so the conversion costs one pass per weight instead of one per
 * token. Both see the same float weights in the same order, so a row's result never depends on the batch.
 */
final class QuantKernels {
    private static final VectorSpecies<Float> F = MatMul.F;
    private static final int L = F.length();
    /** 16 lanes (AVX-512): blocks in their natural order; 8 lanes: the reordered layouts described below. */
    private static final boolean WIDE = L == 16;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** As many bytes as F has lanes (8 or 16), widened to int lanes by one sign-extending load. */
    private static final VectorSpecies<Byte> BL = VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * L));
    private static final VectorSpecies<Integer> I256 = IntVector.SPECIES_256;
    private static final VectorSpecies<Short> S64 = ShortVector.SPECIES_64;
    private static final java.nio.ByteOrder LE = java.nio.ByteOrder.LITTLE_ENDIAN;
    private static final int QK = 32;
    static final int Q8_BYTES = 34, Q4_BYTES = 18;

    private QuantKernels() {}

    /** The activation layout {@link org.jmoe.tensor.quant.ActQuant#decodedQ8_0} must write for these kernels. */
    static org.jmoe.tensor.quant.ActQuant.Order actOrder(boolean q4) {
        if (WIDE) return org.jmoe.tensor.quant.ActQuant.Order.NATURAL;
        return q4 ? org.jmoe.tensor.quant.ActQuant.Order.Q4_0_8 : org.jmoe.tensor.quant.ActQuant.Order.Q8_0_8;
    }


    /**
     * Rows [r0, r1) x all T tokens of a Q8_0 ({@code q4 == false}) or Q4_0 weight; {@code x} holds the decoded
     * Q8_0 activations in {@link #actOrder}'s layout.
     */
    static void rows(boolean q4, MemorySegment w, long rowBytes, float[] x, int xOff, int xStride, int T,
                     float[] y, int yOff, int yStride, int r0, int r1, int n) {
        // Two methods, so that C2 compiles each with its own inlining budget: one compilation unit holding
        // both the decode and the prefill kernels outgrows it, and Vector API calls left un-inlined run in
        // their (boxing) Java fallback.
        if (T == 1) matvec(q4, w, rowBytes, x, xOff, y, yOff, r0, r1, n);
        else F32Kernels.gemmDecoded(q4 ? QuantKernels::decodeQ4 : QuantKernels::decodeQ8, w, rowBytes, x, xOff, xStride, T,
                y, yOff, yStride, r0, r1, n);
    }

    /**
     * One token: four rows at a time, one from each quarter of [r0, r1), so each of the four chains walks its
     * quarter's contiguous bytes in order: four long sequential streams the hardware prefetcher follows (four
     * adjacent rows of ~1 KB would be one short burst after another).
     */
    private static void matvec(boolean q4, MemorySegment w, long rowBytes, float[] x, int xOff, float[] y, int yOff,
                               int r0, int r1, int n) {
        int q = (r1 - r0) / 4;
        long qb = q * rowBytes;
        for (int i = 0; i < q; i++) {
            int r = r0 + i;
            if (q4) q4x4(w, r * rowBytes, qb, x, xOff, y, yOff + r, q, n);
            else if (WIDE) q8x4w(w, r * rowBytes, qb, x, xOff, y, yOff + r, q, n);
            else q8x4(w, r * rowBytes, qb, x, xOff, y, yOff + r, q, n);
        }
        for (int r = r0 + 4 * q; r < r1; r++) y[yOff + r] = q4 ? q4x1(w, r * rowBytes, x, xOff, n) : q8x1(w, r * rowBytes, x, xOff, n);
    }

    /**
     * The fp16 scale at byte {@code off}, read through a vector load: the scalar {@code MemorySegment.get}
     * shares one JDK access method with every other caller, whose type profile (mapped, native and heap
     * segments) keeps C2 from inlining it, which costs a call per block.
     */
    static float half(MemorySegment w, long off) {
        return Float.float16ToFloat(ShortVector.fromMemorySegment(S64, w, off, LE).lane(0));
    }

    /*
     * Value order. Each kernel reads a block's values in the order its loads deliver them, and the activations
     * are laid out in that same order (ActQuant.decodedQ8_0), so the dot product is unchanged and no shuffles
     * are needed. With 16 lanes that is the natural order: Q8_0 as two loads of 16 bytes, Q4_0 as one load
     * of 16 bytes whose low nibbles are values 0..15 and high nibbles values 16..31. With 8 lanes:
     *  - Q8_0: the 32 quants are loaded as 8 int lanes of 4 bytes; sub-vector j (0..3) is byte j of every
     *    lane, values 4i + j for lane i (extracted by two shifts: cheaper than four sign-extending loads).
     *  - Q4_0: bytes 0..7 and 8..15 are loaded as 8 int lanes each; sub-vectors are the low nibbles of
     *    bytes 0..7 (values 0..7), their high nibbles (16..23), then bytes 8..15's low (8..15) and high
     *    (24..31) nibbles.
     * The loops keep one copy of each vector operation in the bytecode: C2 stops inlining the Vector API's
     * calls once a method grows past its inlining budget, and a vector that is not inlined is boxed.
     */

    /** Byte {@code j} (0..3) of each int lane of {@code v}, sign-extended, as floats times {@code d}. */
    private static FloatVector q8(IntVector v, int j, FloatVector d) {
        return ((FloatVector) v.lanewise(VectorOperators.LSHL, 24 - 8 * j).lanewise(VectorOperators.ASHR, 24)
                .convertShape(VectorOperators.I2F, F, 0)).mul(d);
    }

    /** 32 quants of the Q8_0 block at {@code o} as 8 int lanes (8-lane layout). */
    private static IntVector q8quants(MemorySegment w, long o) {
        return IntVector.fromMemorySegment(I256, w, o + 2, LE);
    }

    /** {@code L} bytes at {@code off} as int lanes (sign-extended). */
    private static IntVector u8(MemorySegment w, long off) {
        return (IntVector) ByteVector.fromMemorySegment(BL, w, off, LE).convertShape(VectorOperators.B2I, I, 0);
    }

    /** {@code L} int8 values at {@code off} as floats times {@code d} (16-lane layout). */
    private static FloatVector i8(MemorySegment w, long off, FloatVector d) {
        return ((FloatVector) u8(w, off).convertShape(VectorOperators.I2F, F, 0)).mul(d);
    }

    /** Nibble {@code h} (0 low, 1 high) of each lane of {@code v} as {@code d·(q − 8)} (an FMA with d and −8d: exact). */
    private static FloatVector q4(IntVector v, int h, FloatVector d, FloatVector m8d) {
        IntVector q = v.lanewise(VectorOperators.LSHR, 4 * h).lanewise(VectorOperators.AND, 0x0f);
        return ((FloatVector) q.convertShape(VectorOperators.I2F, F, 0)).fma(d, m8d);
    }

    /** Decodes the n values (whole blocks) of a Q8_0 row at byte {@code base} into {@code dst[off..]}, in kernel order. */
    static void decodeQ8(MemorySegment w, long base, float[] dst, int off, int n) {
        for (int b = 0, nb = n / QK; b < nb; b++) {
            long o = base + (long) b * Q8_BYTES;
            FloatVector d = FloatVector.broadcast(F, half(w, o));
            int k = off + b * QK;
            if (WIDE) {
                for (int s = 0; s < QK; s += L) i8(w, o + 2 + s, d).intoArray(dst, k + s);
            } else {
                IntVector v = q8quants(w, o);
                for (int j = 0; j < 4; j++) q8(v, j, d).intoArray(dst, k + 8 * j);
            }
        }
    }

    /** Decodes the n values (whole blocks) of a Q4_0 row at byte {@code base} into {@code dst[off..]}, in kernel order. */
    static void decodeQ4(MemorySegment w, long base, float[] dst, int off, int n) {
        for (int b = 0, nb = n / QK; b < nb; b++) {
            long o = base + (long) b * Q4_BYTES;
            float ds = half(w, o);
            FloatVector d = FloatVector.broadcast(F, ds), m8d = FloatVector.broadcast(F, -8f * ds);
            int k = off + b * QK;
            for (int p = 0; p < 16; p += L) {
                IntVector v = u8(w, o + 2 + p);
                q4(v, 0, d, m8d).intoArray(dst, k + 2 * p);
                q4(v, 1, d, m8d).intoArray(dst, k + 2 * p + L);
            }
        }
    }

    /** One Q8_0 row: {@link MatMul#dotF32}'s order on the decoded values (in kernel order). */
    static float q8x1(MemorySegment w, long b0, float[] x, int xo, int n) {
        FloatVector a = FloatVector.zero(F);
        for (int b = 0, nb = n / QK; b < nb; b++) {
            long o = b0 + (long) b * Q8_BYTES;
            FloatVector d = FloatVector.broadcast(F, half(w, o));
            int k = xo + b * QK;
            if (WIDE) {
                for (int s = 0; s < QK; s += L) a = i8(w, o + 2 + s, d).fma(FloatVector.fromArray(F, x, k + s), a);
            } else {
                IntVector v = q8quants(w, o);
                for (int j = 0; j < 4; j++) a = q8(v, j, d).fma(FloatVector.fromArray(F, x, k + 8 * j), a);
            }
        }
        return MatMul.sumLanes(a);
    }

    /** Four Q8_0 rows, {@code rb} bytes apart (outputs {@code ys} apart), 8 lanes: four chains, each {@link #q8x1}'s sequence. */
    static void q8x4(MemorySegment w, long b0, long rb, float[] x, int xo, float[] y, int yo, int ys, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long b1 = b0 + rb, b2 = b1 + rb, b3 = b2 + rb;
        for (int b = 0, nb = n / QK; b < nb; b++) {
            long o = (long) b * Q8_BYTES;
            FloatVector d0 = FloatVector.broadcast(F, half(w, b0 + o));
            FloatVector d1 = FloatVector.broadcast(F, half(w, b1 + o));
            FloatVector d2 = FloatVector.broadcast(F, half(w, b2 + o));
            FloatVector d3 = FloatVector.broadcast(F, half(w, b3 + o));
            IntVector v0 = q8quants(w, b0 + o), v1 = q8quants(w, b1 + o), v2 = q8quants(w, b2 + o), v3 = q8quants(w, b3 + o);
            int k = xo + b * QK;
            for (int j = 0; j < 4; j++) {
                FloatVector xv = FloatVector.fromArray(F, x, k + 8 * j);
                a0 = q8(v0, j, d0).fma(xv, a0);
                a1 = q8(v1, j, d1).fma(xv, a1);
                a2 = q8(v2, j, d2).fma(xv, a2);
                a3 = q8(v3, j, d3).fma(xv, a3);
            }
        }
        y[yo] = MatMul.sumLanes(a0);
        y[yo + ys] = MatMul.sumLanes(a1);
        y[yo + 2 * ys] = MatMul.sumLanes(a2);
        y[yo + 3 * ys] = MatMul.sumLanes(a3);
    }

    /** {@link #q8x4} with 16 lanes: each block as two sign-extending loads of 16 bytes. */
    static void q8x4w(MemorySegment w, long b0, long rb, float[] x, int xo, float[] y, int yo, int ys, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long b1 = b0 + rb, b2 = b1 + rb, b3 = b2 + rb;
        for (int b = 0, nb = n / QK; b < nb; b++) {
            long o = (long) b * Q8_BYTES;
            FloatVector d0 = FloatVector.broadcast(F, half(w, b0 + o));
            FloatVector d1 = FloatVector.broadcast(F, half(w, b1 + o));
            FloatVector d2 = FloatVector.broadcast(F, half(w, b2 + o));
            FloatVector d3 = FloatVector.broadcast(F, half(w, b3 + o));
            int k = xo + b * QK;
            for (int s = 0; s < QK; s += L) {
                FloatVector xv = FloatVector.fromArray(F, x, k + s);
                long q = o + 2 + s;
                a0 = i8(w, b0 + q, d0).fma(xv, a0);
                a1 = i8(w, b1 + q, d1).fma(xv, a1);
                a2 = i8(w, b2 + q, d2).fma(xv, a2);
                a3 = i8(w, b3 + q, d3).fma(xv, a3);
            }
        }
        y[yo] = MatMul.sumLanes(a0);
        y[yo + ys] = MatMul.sumLanes(a1);
        y[yo + 2 * ys] = MatMul.sumLanes(a2);
        y[yo + 3 * ys] = MatMul.sumLanes(a3);
    }

    /** One Q4_0 row: {@link MatMul#dotF32}'s order on the decoded values (in kernel order). */
    static float q4x1(MemorySegment w, long b0, float[] x, int xo, int n) {
        FloatVector a = FloatVector.zero(F);
        for (int b = 0, nb = n / QK; b < nb; b++) {
            long o = b0 + (long) b * Q4_BYTES;
            float ds = half(w, o);
            FloatVector d = FloatVector.broadcast(F, ds), m8d = FloatVector.broadcast(F, -8f * ds);
            int k = xo + b * QK;
            for (int p = 0; p < 16; p += L) {
                IntVector v = u8(w, o + 2 + p);
                a = q4(v, 0, d, m8d).fma(FloatVector.fromArray(F, x, k + 2 * p), a);
                a = q4(v, 1, d, m8d).fma(FloatVector.fromArray(F, x, k + 2 * p + L), a);
            }
        }
        return MatMul.sumLanes(a);
    }

    /** Four Q4_0 rows, {@code rb} bytes apart (outputs {@code ys} apart): four independent chains, each {@link #q4x1}'s sequence. */
    static void q4x4(MemorySegment w, long b0, long rb, float[] x, int xo, float[] y, int yo, int ys, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long b1 = b0 + rb, b2 = b1 + rb, b3 = b2 + rb;
        for (int b = 0, nb = n / QK; b < nb; b++) {
            long o = (long) b * Q4_BYTES;
            float s0 = half(w, b0 + o), s1 = half(w, b1 + o), s2 = half(w, b2 + o), s3 = half(w, b3 + o);
            FloatVector d0 = FloatVector.broadcast(F, s0), m0 = FloatVector.broadcast(F, -8f * s0);
            FloatVector d1 = FloatVector.broadcast(F, s1), m1 = FloatVector.broadcast(F, -8f * s1);
            FloatVector d2 = FloatVector.broadcast(F, s2), m2 = FloatVector.broadcast(F, -8f * s2);
            FloatVector d3 = FloatVector.broadcast(F, s3), m3 = FloatVector.broadcast(F, -8f * s3);
            int k = xo + b * QK;
            for (int p = 0; p < 16; p += L) {
                long q = o + 2 + p;
                IntVector v0 = u8(w, b0 + q), v1 = u8(w, b1 + q), v2 = u8(w, b2 + q), v3 = u8(w, b3 + q);
                for (int h = 0; h < 2; h++) {
                    FloatVector xv = FloatVector.fromArray(F, x, k + 2 * p + L * h);
                    a0 = q4(v0, h, d0, m0).fma(xv, a0);
                    a1 = q4(v1, h, d1, m1).fma(xv, a1);
                    a2 = q4(v2, h, d2, m2).fma(xv, a2);
                    a3 = q4(v3, h, d3, m3).fma(xv, a3);
                }
            }
        }
        y[yo] = MatMul.sumLanes(a0);
        y[yo + ys] = MatMul.sumLanes(a1);
        y[yo + 2 * ys] = MatMul.sumLanes(a2);
        y[yo + 3 * ys] = MatMul.sumLanes(a3);
    }
}
