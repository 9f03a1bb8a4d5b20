package org.jmoe.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
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
 * got. Block-quantized weights quantize the activations first, as llama.cpp does. Q8_0 and Q4_0 then run
 * {@link QuantKernels}: the canonical float order on exactly decoded weights and activations, so prefill can
 * reuse the F32 register tiles; the other formats use their {@link BlockFormat}'s fixed-order dot.
 */
public final class MatMul {
    /**
     * The engine's float vector species: 512 bits where the machine prefers them (AVX-512), else 256; a JVM
     * flag {@code -Djmoe.vector.bits=256} forces 256-bit vectors. Every matrix kernel accumulates in lanes of
     * this species, so results are identical across kernels and batch sizes on one machine, and may differ by
     * float rounding between machines of different widths.
     */
    public static final VectorSpecies<Float> F = species();
    static final int L = F.length();

    private static VectorSpecies<Float> species() {
        int preferred = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        int bits = Integer.getInteger("jmoe.vector.bits", preferred);
        return bits >= 512 && preferred >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    }
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Rows of W per task of the block-quantized kernels. */
    private static final int ROW_BLOCK = 16;
    /**
     * Tasks per thread of the float kernels: rows are split evenly into this many tasks per thread, so a
     * thread slowed by other work on the machine hands its share to the others.
     */
    private static final int TASKS_PER_THREAD = 8;

    private MatMul() {}

    /** A thread's decoded Q8_0 activations. */
    private static final ThreadLocal<Scratch> DECODED = Scratch.perThread();
    /** A thread's aligned copy of float activations. */
    private static final ThreadLocal<Scratch> ALIGNED = Scratch.perThread();
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
        if (T <= 0 || rows == 0) return;
        final MemorySegment seg = w.data();
        final long rowBytes = w.rowBytes();
        switch (w.type()) {
            case F32, F16, BF16 -> {
                final DType type = w.type();
                // the activations copied to rows that start on 64-byte boundaries where the heap's layout makes
                // that possible (HeapAlign): the same values, loaded without split loads
                final float[] xa;
                final int xa0, xas;
                if (HeapAlign.PAD > 0) {
                    xas = (cols + 15) & ~15;
                    xa0 = HeapAlign.PAD;
                    xa = ALIGNED.get().ensure(xa0 + T * xas);
                    for (int t = 0; t < T; t++) System.arraycopy(x, xOff + t * xStride, xa, xa0 + t * xas, cols);
                } else {
                    xa = x; xa0 = xOff; xas = xStride;
                }
                forRowRanges(pool, rows, T, (r0, r1) -> {
                    if (type == DType.F32) {
                        F32Kernels.rows(seg, rowBytes, xa, xa0, xas, T, y, yOff, yStride, r0, r1, cols);
                    } else {
                        HalfKernels.rows(type == DType.BF16, seg, rowBytes, xa, xa0, xas, T, y, yOff, yStride, r0, r1, cols);
                    }
                });
            }
            case Q8_0, Q4_0 -> {
                final boolean q4 = w.type() == DType.Q4_0;
                if (cols % 32 != 0) throw new IllegalArgumentException(w.name() + ": row length " + cols + " is not a multiple of 32");
                // from a 64-byte boundary: rows of a multiple of 32 floats then start on one too
                final int xq0 = HeapAlign.PAD;
                final float[] xq = DECODED.get().ensure(xq0 + T * cols);
                ActQuant.Order order = QuantKernels.actOrder(q4);
                for (int t = 0; t < T; t++) ActQuant.decodedQ8_0(x, xOff + t * xStride, cols, xq, xq0 + t * cols, order);
                forRowRanges(pool, rows, T, (r0, r1) -> QuantKernels.rows(q4, seg, rowBytes, xq, xq0, cols, T, y, yOff, yStride, r0, r1, cols));
            }
            default -> {
                final int tasks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
                BlockFormat f = BlockFormats.of(w.type());
                if (f == null) throw new UnsupportedOperationException(w.name() + ": no kernel for dtype " + w.type());
                QuantizedActs acts = ACTS.get().ensure(f.actFormat(), T, cols);
                for (int t = 0; t < T; t++) ActQuant.quantizeRow(x, xOff + t * xStride, acts, t);
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

    /** A range of rows [r0, r1) of one task. */
    private interface RowRange {
        void run(int r0, int r1);
    }

    /**
     * Splits {@code rows} into tasks over the pool, on boundaries of the kernels' row groups (matrix-vector
     * kernels take rows 4 at a time, GEMM tiles 3 at a time), {@link #TASKS_PER_THREAD} tasks per thread.
     */
    private static void forRowRanges(Parallel pool, int rows, int T, RowRange body) {
        final int align = T == 1 ? 4 : 3;
        final int units = (rows + align - 1) / align;
        final int parts = pool.threads() == 1 ? 1 : Math.min(units, pool.threads() * TASKS_PER_THREAD);
        pool.forEach(parts, (task, worker) -> body.run(Math.min(rows, (int) ((long) units * task / parts) * align),
                Math.min(rows, (int) ((long) units * (task + 1) / parts) * align)));
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
        for (; k <= n - L; k += L) acc = HalfKernels.loadF16(w, base + 2L * k).fma(FloatVector.fromArray(F, x, xo + k), acc);
        float s = sumLanes(acc);
        for (; k < n; k++) s = Math.fma(HalfKernels.f16(w, base + 2L * k), x[xo + k], s);
        return s;
    }

    /** Dot of a BF16 row with x, the same order as {@link #dotF32} on the decoded values. */
    public static float dotBF16(MemorySegment w, long base, float[] x, int xo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int k = 0;
        for (; k <= n - L; k += L) acc = HalfKernels.loadBF16(w, base + 2L * k).fma(FloatVector.fromArray(F, x, xo + k), acc);
        float s = sumLanes(acc);
        for (; k < n; k++) s = Math.fma(HalfKernels.bf16(w, base + 2L * k), x[xo + k], s);
        return s;
    }

    /** Rotations by half, a quarter, an eighth and a sixteenth of {@link #F}'s lanes. */
    private static final VectorShuffle<Float> ROT_HALF = VectorShuffle.iota(F, L / 2, 1, true);
    private static final VectorShuffle<Float> ROT_QUARTER = VectorShuffle.iota(F, L / 4, 1, true);
    private static final VectorShuffle<Float> ROT_EIGHTH = VectorShuffle.iota(F, L / 8, 1, true);
    private static final VectorShuffle<Float> ROT_SIXTEENTH = VectorShuffle.iota(F, Math.max(1, L / 16), 1, true);

    /**
     * {@link #sumLanes} of an {@link #F}-shaped vector computed with whole-vector rotations: lane i plus lane
     * i + L/2, then i + L/4, ..., the same additions in the same order, so the same bits. Fewer instructions
     * than reading the lanes one by one, so the GEMM tiles (nine sums per tile) use it; the matrix-vector
     * kernels keep {@link #sumLanes}, whose smaller inlined code leaves C2's inlining budget to the loads.
     */
    static float sumLanesTree(FloatVector v) {
        // Each step in a method of its own: every method here stays under C2's size limit for inlining at any
        // call site (35 bytecodes), so the tiles' epilogues never call out with a boxed vector.
        return fold4(fold3(fold2(fold1(v)))).lane(0);
    }

    private static FloatVector fold1(FloatVector v) { return v.add(v.rearrange(ROT_HALF)); }

    private static FloatVector fold2(FloatVector v) { return v.add(v.rearrange(ROT_QUARTER)); }

    private static FloatVector fold3(FloatVector v) { return v.add(v.rearrange(ROT_EIGHTH)); }

    private static FloatVector fold4(FloatVector v) { return L == 16 ? v.add(v.rearrange(ROT_SIXTEENTH)) : v; }

    /* The four-output reduction of 16-lane vectors (sums4): masks and rotations within halves and quarters. */
    private static final VectorMask<Float> HI8 = VectorMask.fromLong(F, 0xFF00L);
    private static final VectorMask<Float> ODD4 = VectorMask.fromLong(F, 0xF0F0L);
    private static final VectorShuffle<Float> ROT4_IN_HALVES = VectorShuffle.fromOp(F, i -> ((i & 8) | ((i + 4) & 7)) % L);
    private static final VectorShuffle<Float> ROT2_IN_QUARTERS = VectorShuffle.fromOp(F, i -> ((i & 12) | ((i + 2) & 3)) % L);
    private static final VectorShuffle<Float> ROT1_IN_QUARTERS = VectorShuffle.fromOp(F, i -> ((i & 12) | ((i + 1) & 3)) % L);

    /**
     * {@link #sumLanes} of four 16-lane vectors at once (16-lane {@link #F} only): the result holds the sum of
     * {@code a} in lane 0, {@code c} in lane 4, {@code b} in lane 8 and {@code d} in lane 12. Every addition is
     * the one the single-vector tree makes, with the same operands in the same order (so the same bits), but
     * the steps are shared: 6 rotations for four sums instead of 16.
     */
    static FloatVector sums4(FloatVector a, FloatVector b, FloatVector c, FloatVector d) {
        FloatVector ab = foldPair(a, b), cd = foldPair(c, d);
        FloatVector s = ab.blend(cd.rearrange(ROT4_IN_HALVES), ODD4).add(ab.rearrange(ROT4_IN_HALVES).blend(cd, ODD4));
        s = s.add(s.rearrange(ROT2_IN_QUARTERS));
        return s.add(s.rearrange(ROT1_IN_QUARTERS));
    }

    /** Lanes 0..7: {@code a_i + a_{i+8}}; lanes 8..15: {@code b_i + b_{i+8}}. */
    private static FloatVector foldPair(FloatVector a, FloatVector b) {
        return a.blend(b.rearrange(ROT_HALF), HI8).add(a.rearrange(ROT_HALF).blend(b, HI8));
    }

    /**
     * Sums the lanes of {@code v} (8 or 16) in a fixed tree order (the JIT's reduceLanes order is unspecified):
     * 16 lanes are first folded to 8 ({@code lane i + lane i+8}), then summed as
     * {@code ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))}. Scalar lane reads; {@link #sumLanesTree} is the
     * same sum with vector rotations.
     */
    public static float sumLanes(FloatVector v) {
        float a0 = v.lane(0), a1 = v.lane(1), a2 = v.lane(2), a3 = v.lane(3);
        float a4 = v.lane(4), a5 = v.lane(5), a6 = v.lane(6), a7 = v.lane(7);
        if (v.length() == 16) {
            a0 += v.lane(8); a1 += v.lane(9); a2 += v.lane(10); a3 += v.lane(11);
            a4 += v.lane(12); a5 += v.lane(13); a6 += v.lane(14); a7 += v.lane(15);
        }
        return ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7));
    }
}
