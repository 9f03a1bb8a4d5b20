package org.jmoe.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.jmoe.tensor.quant.ActQuant;
import org.jmoe.tensor.quant.BlockFormat;
import org.jmoe.tensor.quant.BlockFormats;
import org.jmoe.tensor.quant.QuantizedActs;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Matrix products {@code y[t][r] = sum_k W[r][k] * x[t][k]} of a weight matrix in any supported dtype with a
 * batch of float activation rows, over the engine's thread pool.
 *
 * <p><b>Batch invariance.</b> Every output is one dot product whose accumulation order over {@code k} is
 * fixed: lanes of {@link #F} accumulate with fused multiply-adds in order of {@code k}, the lanes are summed in
 * a fixed tree ({@link #sumLanes}), then the scalar tail is added in order. No kernel variant changes that
 * order, so a row's result does not depend on how many other rows are in the batch or which rows a thread
 * got. Block-quantized weights quantize the activations first, as llama.cpp does, and use the
 * {@link BlockFormat}'s fixed-order dot.
 */
public final class MatMul {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final VectorSpecies<Short> S = ShortVector.SPECIES_128;
    static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Rows of W per task: enough work to amortise scheduling, small enough to balance two threads. */
    private static final int ROW_BLOCK = 16;

    private MatMul() {}

    private static final ThreadLocal<QuantizedActs> ACTS = ThreadLocal.withInitial(QuantizedActs::new);

    /**
     * {@code y[yOff + t*yStride + r] = dot(W row r, x[xOff + t*xStride ..])} for {@code 0 <= t < T}, all rows r.
     */
    public static void mul(Tensor w, float[] x, int xOff, int xStride, int T, float[] y, int yOff, int yStride) {
        mul(Parallel.global(), w, x, xOff, xStride, T, y, yOff, yStride);
    }

    public static void mul(Parallel pool, Tensor w, float[] x, int xOff, int xStride, int T, float[] y, int yOff, int yStride) {
        final int rows = w.rows();
        final int cols = w.cols();
        final int tasks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        switch (w.type()) {
            case F32 -> pool.forEach(tasks, (task, worker) -> {
                int r0 = task * ROW_BLOCK, r1 = Math.min(rows, r0 + ROW_BLOCK);
                F32Kernels.rows(w.data(), w.rowBytes(), x, xOff, xStride, T, y, yOff, yStride, r0, r1, cols);
            });
            case F16, BF16 -> pool.forEach(tasks, (task, worker) -> {
                int r0 = task * ROW_BLOCK, r1 = Math.min(rows, r0 + ROW_BLOCK);
                floatRows(w, x, xOff, xStride, T, y, yOff, yStride, r0, r1, cols);
            });
            default -> {
                BlockFormat f = BlockFormats.of(w.type());
                if (f == null) throw new UnsupportedOperationException(w.name() + ": no kernel for dtype " + w.type());
                QuantizedActs acts = ACTS.get().ensure(f.actFormat(), T, cols);
                for (int t = 0; t < T; t++) ActQuant.quantizeRow(x, xOff + t * xStride, acts, t);
                final MemorySegment seg = w.data();
                final long rowBytes = w.rowBytes();
                pool.forEach(tasks, (task, worker) -> {
                    int r0 = task * ROW_BLOCK, r1 = Math.min(rows, r0 + ROW_BLOCK);
                    if (T < 4) {
                        for (int t = 0; t < T; t++) f.dotRows(seg, 0, rowBytes, cols, acts, t, r0, r1, y, yOff + t * yStride + r0);
                    } else {
                        for (int r = r0; r < r1; r++) f.dotTokens(seg, 0, rowBytes, cols, acts, 0, T, r, y, yOff + r, yStride);
                    }
                });
            }
        }
    }

    private static void floatRows(Tensor w, float[] x, int xOff, int xStride, int T, float[] y, int yOff, int yStride,
                                  int r0, int r1, int cols) {
        MemorySegment seg = w.data();
        long rowBytes = w.rowBytes();
        DType type = w.type();
        for (int r = r0; r < r1; r++) {
            long base = r * rowBytes;
            for (int t = 0; t < T; t++) {
                int xo = xOff + t * xStride;
                y[yOff + t * yStride + r] = switch (type) {
                    case F32 -> dotF32(seg, base, x, xo, cols);
                    case F16 -> dotF16(seg, base, x, xo, cols);
                    default -> dotBF16(seg, base, x, xo, cols);
                };
            }
        }
    }

    /** The canonical fixed-order dot of an F32 row at byte {@code base} with {@code x[xo..xo+n)}. */
    public static float dotF32(MemorySegment w, long base, float[] x, int xo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int k = 0;
        for (; k <= n - L; k += L) {
            acc = FloatVector.fromMemorySegment(F, w, base + 4L * k, LE).fma(FloatVector.fromArray(F, x, xo + k), acc);
        }
        float s = sumLanes(acc);
        for (; k < n; k++) s = Math.fma(w.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, base + 4L * k), x[xo + k], s);
        return s;
    }

    /** Dot of an F16 row with x, the same order as {@link #dotF32} on the decoded values. */
    public static float dotF16(MemorySegment w, long base, float[] x, int xo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int k = 0;
        for (; k <= n - L; k += L) {
            ShortVector h = ShortVector.fromMemorySegment(S, w, base + 2L * k, LE);
            acc = halfToFloat(h).fma(FloatVector.fromArray(F, x, xo + k), acc);
        }
        float s = sumLanes(acc);
        for (; k < n; k++) s = Math.fma(Float.float16ToFloat(w.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, base + 2L * k)), x[xo + k], s);
        return s;
    }

    private static final jdk.incubator.vector.VectorSpecies<Integer> I = jdk.incubator.vector.IntVector.SPECIES_256;
    /** 2^112: rebiases a half's exponent (bias 15) to a float's (bias 127); also scales subnormals exactly. */
    private static final float HALF_REBIAS = 0x1p112f;

    /**
     * Exact IEEE half → float for 8 lanes: the half's exponent and mantissa bits shifted into a float's
     * place and multiplied by 2^112 (exact for normals and subnormals); all-ones exponents (inf, NaN) are
     * mapped to all-ones float exponents; then the sign.
     */
    static FloatVector halfToFloat(ShortVector h) {
        jdk.incubator.vector.IntVector v = ((jdk.incubator.vector.IntVector) h.convertShape(VectorOperators.S2I, I, 0)).and(0xffff);
        jdk.incubator.vector.IntVector em = v.and(0x7fff);
        FloatVector mag = em.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(HALF_REBIAS);
        jdk.incubator.vector.IntVector bits = mag.reinterpretAsInts();
        var special = em.compare(VectorOperators.GE, 0x7c00);
        bits = bits.blend(em.lanewise(VectorOperators.LSHL, 13).or(0x7f800000), special);
        return bits.or(v.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    /** Dot of a BF16 row with x, the same order as {@link #dotF32} on the decoded values. */
    public static float dotBF16(MemorySegment w, long base, float[] x, int xo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int k = 0;
        for (; k <= n - L; k += L) {
            ShortVector h = ShortVector.fromMemorySegment(S, w, base + 2L * k, LE);
            FloatVector wv = h.convertShape(VectorOperators.S2I, jdk.incubator.vector.IntVector.SPECIES_256, 0)
                    .reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            acc = wv.fma(FloatVector.fromArray(F, x, xo + k), acc);
        }
        float s = sumLanes(acc);
        for (; k < n; k++) s = Math.fma(Float.intBitsToFloat(w.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, base + 2L * k) << 16), x[xo + k], s);
        return s;
    }

    /** Sums the lanes of {@code v} in a fixed tree order (the JIT's reduceLanes order is unspecified). */
    public static float sumLanes(FloatVector v) {
        float a0 = v.lane(0), a1 = v.lane(1), a2 = v.lane(2), a3 = v.lane(3);
        float a4 = v.lane(4), a5 = v.lane(5), a6 = v.lane(6), a7 = v.lane(7);
        return ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7));
    }
}
