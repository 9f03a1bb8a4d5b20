package org.jmoe.tensor;

import jdk.incubator.vector.ShortVector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MatMulTest {
    private static final DType[] FLOAT_TYPES = {DType.F32, DType.F16, DType.BF16};
    private static final Parallel TWO = new Parallel(2);
    private static final Arena ARENA = Arena.ofShared();

    @AfterAll
    static void close() {
        TWO.close();
        ARENA.close();
    }

    /** A weight matrix and its values as decoded by the reference ({@link Float#float16ToFloat}, BF16 shift). */
    private record W(Tensor t, double[] values) {}

    private static W weights(DType type, int rows, int cols, SplittableRandom r, short[] specialHalves) {
        MemorySegment seg = ARENA.allocate(type.bytesFor((long) rows * cols), 64);
        double[] wd = new double[rows * cols];
        for (int i = 0; i < rows * cols; i++) {
            float v = (float) r.nextGaussian();
            switch (type) {
                case F32 -> { seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, v); wd[i] = v; }
                case F16 -> {
                    short h = specialHalves != null ? specialHalves[i % specialHalves.length] : Float.floatToFloat16(v);
                    seg.setAtIndex(ValueLayout.JAVA_SHORT, i, h);
                    wd[i] = Float.float16ToFloat(h);
                }
                default -> {
                    short b = (short) (Float.floatToRawIntBits(v) >>> 16);
                    seg.setAtIndex(ValueLayout.JAVA_SHORT, i, b);
                    wd[i] = Float.intBitsToFloat(b << 16);
                }
            }
        }
        return new W(new Tensor("w", type, new long[]{cols, rows}, seg), wd);
    }

    private static float[] gaussian(int n, SplittableRandom r) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** Checks y (strided) against a double-precision product of the decoded weights. */
    private static void assertClose(W w, float[] x, int xOff, int xStride, int T, float[] y, int yOff, int yStride, String what) {
        int rows = w.t.rows(), cols = w.t.cols();
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < rows; o++) {
                double want = 0, mag = 0;
                for (int k = 0; k < cols; k++) {
                    double p = w.values[o * cols + k] * x[xOff + t * xStride + k];
                    want += p;
                    mag += Math.abs(p);
                }
                float got = y[yOff + t * yStride + o];
                if (Double.isNaN(want)) {
                    assertThat(got).as("%s t=%d row=%d", what, t, o).isNaN();
                } else if (Double.isInfinite(want) || Double.isInfinite(mag)) {
                    assertThat((double) got).as("%s t=%d row=%d", what, t, o).isEqualTo(want);
                } else {
                    // Each product is exact in the FMA; each of the <= cols roundings of a running sum adds at most
                    // 2^-24 of that sum's magnitude, which is bounded by sum|products|: |error| <= cols * 2^-24 * mag
                    // (6e-8 > 2^-24), plus a floor for results that cancel to near zero.
                    assertThat((double) got).as("%s t=%d row=%d", what, t, o)
                            .isCloseTo(want, org.assertj.core.data.Offset.offset(cols * 6e-8 * mag + 1e-30));
                }
            }
        }
    }

    @Test
    void halfToFloatIsExactForEveryHalf() {
        int n = MatMul.F.length();
        var species = jdk.incubator.vector.VectorSpecies.of(short.class, jdk.incubator.vector.VectorShape.forBitSize(16 * n));
        short[] h = new short[n];
        float[] got = new float[n];
        for (int base = 0; base < 65536; base += n) {
            for (int i = 0; i < n; i++) h[i] = (short) (base + i);
            HalfKernels.halfToFloat(ShortVector.fromArray(species, h, 0)).intoArray(got, 0);
            for (int i = 0; i < n; i++) {
                float want = Float.float16ToFloat(h[i]);
                if (Float.isNaN(want)) assertThat(got[i]).isNaN();
                else assertThat(Float.floatToRawIntBits(got[i])).as("half 0x%04x", base + i).isEqualTo(Float.floatToRawIntBits(want));
            }
        }
    }

    /** Every dtype and odd shapes (cols not a multiple of 8, rows not a multiple of any tile), strided x and y. */
    @Test
    void matchesDoublePrecisionForAllFloatTypesAndOddShapes() {
        SplittableRandom r = new SplittableRandom(4);
        for (DType type : FLOAT_TYPES) {
            for (int[] shape : new int[][]{{1, 8}, {2, 1}, {4, 7}, {5, 13}, {7, 9}, {17, 64}, {33, 100}, {64, 1024}}) {
                int rows = shape[0], cols = shape[1];
                W w = weights(type, rows, cols, r, null);
                for (int T : new int[]{1, 2, 3, 4, 5, 17, 130}) {
                    if (T == 130 && rows * cols > 5000) continue;
                    int xStride = cols + 5, yStride = rows + 2;
                    float[] x = gaussian(3 + T * xStride, r);
                    for (Parallel pool : new Parallel[]{Parallel.SERIAL, TWO}) {
                        float[] y = new float[1 + T * yStride];
                        MatMul.mul(pool, w.t, x, 3, xStride, T, y, 1, yStride);
                        assertClose(w, x, 3, xStride, T, y, 1, yStride, type + " " + rows + "x" + cols + " T=" + T);
                        for (int t = 0; t < T; t++) {
                            assertThat(y[t * yStride]).as("untouched gap").isZero();
                        }
                    }
                }
            }
        }
    }

    /** Subnormal, infinite, NaN and signed-zero F16 weights decode exactly in the decode and prefill paths. */
    @Test
    void f16SpecialValues() {
        SplittableRandom r = new SplittableRandom(5);
        short[] normal = {0x3c00, (short) 0xbc00, 0x3555, 0x7bff, (short) 0xfbff, 0x0400};
        short[] subnormal = {0x0001, (short) 0x8001, 0x03ff, (short) 0x83ff, 0x0200, 0x0000, (short) 0x8000};
        short[][] cases = {normal, subnormal, {0x3c00, 0x7c00}, {0x3c00, (short) 0xfc00}, {0x3c00, 0x7e00}, {0x3c00, 0x7c01, (short) 0xfe00}};
        for (short[] halves : cases) {
            for (int[] shape : new int[][]{{5, 13}, {7, 40}}) {
                W w = weights(DType.F16, shape[0], shape[1], r, halves);
                for (int T : new int[]{1, 4}) {
                    float[] x = gaussian(T * shape[1], r);
                    if (halves == subnormal) for (int i = 0; i < x.length; i++) x[i] *= 1e6f;
                    float[] y = new float[T * shape[0]];
                    MatMul.mul(TWO, w.t, x, 0, shape[1], T, y, 0, shape[0]);
                    assertClose(w, x, 0, shape[1], T, y, 0, shape[0], "F16 specials " + Integer.toHexString(halves[halves.length - 1] & 0xffff) + " T=" + T);
                }
            }
        }
    }

    /**
     * A row's result is bit-identical whatever else is in the batch, which tile or block computed it, and how
     * many threads ran: each token alone (matvec kernels), inside batches of several sizes and offsets (all
     * GEMM tiles and edge cases), with 1 and 2 threads. The shapes cover several row chunks and token blocks.
     */
    @Test
    void batchInvariance() {
        SplittableRandom r = new SplittableRandom(8);
        for (DType type : FLOAT_TYPES) {
            for (int[] shape : new int[][]{{37, 203}, {100, 1024}}) {
                int rows = shape[0], cols = shape[1];
                W w = weights(type, rows, cols, r, null);
                int N = 130;
                float[] x = gaussian(N * cols, r);
                float[] all = new float[N * rows];
                MatMul.mul(TWO, w.t, x, 0, cols, N, all, 0, rows);
                float[] serial = new float[N * rows];
                MatMul.mul(Parallel.SERIAL, w.t, x, 0, cols, N, serial, 0, rows);
                assertSameBits(serial, all, type + " serial vs 2 threads");
                for (int t = 0; t < N; t++) {
                    float[] one = new float[rows];
                    MatMul.mul(t % 2 == 0 ? Parallel.SERIAL : TWO, w.t, x, t * cols, cols, 1, one, 0, rows);
                    for (int o = 0; o < rows; o++) {
                        assertThat(Float.floatToRawIntBits(one[o])).as("%s token %d row %d alone", type, t, o)
                                .isEqualTo(Float.floatToRawIntBits(all[t * rows + o]));
                    }
                }
                for (int T : new int[]{2, 3, 4, 5, 7, 16, 17, 33}) {
                    for (int start : new int[]{0, 1, N - T}) {
                        float[] part = new float[T * rows];
                        MatMul.mul(T % 2 == 0 ? TWO : Parallel.SERIAL, w.t, x, start * cols, cols, T, part, 0, rows);
                        for (int i = 0; i < T * rows; i++) {
                            assertThat(Float.floatToRawIntBits(part[i])).as("%s batch of %d at %d, output %d", type, T, start, i)
                                    .isEqualTo(Float.floatToRawIntBits(all[start * rows + i]));
                        }
                    }
                }
            }
        }
    }

    /**
     * The lane sums (one by one, by rotations, and four at a time) give the same bits on any vector (the same
     * additions in the same order), special values included, and equal the documented tree written out here.
     */
    @Test
    void lanewiseSumsAgreeBitForBit() {
        SplittableRandom r = new SplittableRandom(21);
        int n = MatMul.F.length();
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, Float.MIN_VALUE, Float.MAX_VALUE};
        float[] a = new float[n];
        for (int it = 0; it < 2000; it++) {
            for (int i = 0; i < n; i++) {
                a[i] = it % 10 == 0 && r.nextInt(4) == 0 ? specials[r.nextInt(specials.length)]
                        : (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-8, 9)));
            }
            jdk.incubator.vector.FloatVector v = jdk.incubator.vector.FloatVector.fromArray(MatMul.F, a, 0);
            float[] f = new float[8];
            for (int i = 0; i < 8; i++) f[i] = n == 16 ? a[i] + a[i + 8] : a[i];
            float want = ((f[0] + f[4]) + (f[2] + f[6])) + ((f[1] + f[5]) + (f[3] + f[7]));
            assertThat(Float.floatToIntBits(MatMul.sumLanes(v))).as("iteration %d", it).isEqualTo(Float.floatToIntBits(want));
            assertThat(Float.floatToIntBits(MatMul.sumLanesTree(v))).as("iteration %d", it).isEqualTo(Float.floatToIntBits(want));
            if (n == 16) {
                jdk.incubator.vector.FloatVector b = v.mul(-0.75f), c = v.add(1e3f), d = v.rearrange(
                        jdk.incubator.vector.VectorShuffle.iota(MatMul.F, 3, 1, true));
                jdk.incubator.vector.FloatVector s4 = MatMul.sums4(v, b, c, d);
                assertThat(Float.floatToIntBits(s4.lane(0))).as("sums4 a, iteration %d", it).isEqualTo(Float.floatToIntBits(MatMul.sumLanes(v)));
                assertThat(Float.floatToIntBits(s4.lane(8))).as("sums4 b, iteration %d", it).isEqualTo(Float.floatToIntBits(MatMul.sumLanes(b)));
                assertThat(Float.floatToIntBits(s4.lane(4))).as("sums4 c, iteration %d", it).isEqualTo(Float.floatToIntBits(MatMul.sumLanes(c)));
                assertThat(Float.floatToIntBits(s4.lane(12))).as("sums4 d, iteration %d", it).isEqualTo(Float.floatToIntBits(MatMul.sumLanes(d)));
            }
        }
    }

    /** {@code -Djmoe.vector.bits=256} (set by the build's 256-bit kernel run) selects 8-lane kernels; otherwise the machine's width. */
    @Test
    void vectorWidthFollowsTheFlag() {
        String bits = System.getProperty("jmoe.vector.bits");
        int preferred = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize();
        int want = "256".equals(bits) || preferred < 512 ? 8 : 16;
        assertThat(MatMul.F.length()).isEqualTo(want);
    }

    /**
     * Where the kernels put aligned copies (HeapAlign): the first aligned float index follows the JVM's object
     * alignment and the array header, and is 0 when objects are not 64-byte aligned (the build runs the kernel
     * tests both ways: the default execution with -XX:ObjectAlignmentInBytes=64, the 256-bit one without).
     */
    @Test
    void alignedIndexFollowsTheObjectAlignment() {
        var bean = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
        int alignment = Integer.parseInt(bean.getVMOption("ObjectAlignmentInBytes").getValue());
        @SuppressWarnings("removal")
        int base = sun.misc.Unsafe.ARRAY_FLOAT_BASE_OFFSET;
        if (alignment >= 64) {
            assertThat((base + 4 * HeapAlign.PAD) % 64).isZero();
            assertThat(HeapAlign.PAD).isBetween(0, 15);
        } else {
            assertThat(HeapAlign.PAD).isZero();
        }
    }

    /** Activations at any offset and stride give the same bits as the same rows packed at offset 0 (the kernels copy them aligned). */
    @Test
    void activationOffsetAndStrideDoNotChangeResults() {
        SplittableRandom r = new SplittableRandom(21);
        for (DType type : new DType[]{DType.F32, DType.F16, DType.BF16, DType.Q8_0, DType.Q4_0}) {
            int rows = 29, cols = 96;
            Tensor w = type == DType.Q8_0 || type == DType.Q4_0 ? quantized(type, rows, cols, r) : weights(type, rows, cols, r, null).t;
            for (int T : new int[]{1, 2, 7}) {
                float[] packed = gaussian(T * cols, r);
                int off = 5, stride = cols + 7;
                float[] strided = new float[off + T * stride];
                for (int t = 0; t < T; t++) System.arraycopy(packed, t * cols, strided, off + t * stride, cols);
                float[] want = new float[T * rows], got = new float[T * rows];
                MatMul.mul(TWO, w, packed, 0, cols, T, want, 0, rows);
                MatMul.mul(TWO, w, strided, off, stride, T, got, 0, rows);
                assertSameBits(want, got, type + " T=" + T);
            }
        }
    }

    /** Every block-quantized type: batch invariance as {@link #batchInvariance} (T = 1, small and large batches, 1 and 2 threads). */
    @Test
    void quantizedBatchInvariance() {
        SplittableRandom r = new SplittableRandom(18);
        for (DType type : new DType[]{DType.Q8_0, DType.Q4_0, DType.Q5_0, DType.Q4_1, DType.Q5_1, DType.Q4_K, DType.Q5_K, DType.Q6_K}) {
            for (int[] shape : new int[][]{{37, 256}, {101, 1024}}) {
                int rows = shape[0], cols = shape[1];
                Tensor w = quantized(type, rows, cols, r);
                int N = 70;
                float[] x = gaussian(N * cols, r);
                float[] all = new float[N * rows];
                MatMul.mul(TWO, w, x, 0, cols, N, all, 0, rows);
                float[] serial = new float[N * rows];
                MatMul.mul(Parallel.SERIAL, w, x, 0, cols, N, serial, 0, rows);
                assertSameBits(serial, all, type + " serial vs 2 threads");
                for (int t = 0; t < N; t += 3) {
                    float[] one = new float[rows];
                    MatMul.mul(t % 2 == 0 ? Parallel.SERIAL : TWO, w, x, t * cols, cols, 1, one, 0, rows);
                    for (int o = 0; o < rows; o++) {
                        assertThat(Float.floatToRawIntBits(one[o])).as("%s token %d row %d alone", type, t, o)
                                .isEqualTo(Float.floatToRawIntBits(all[t * rows + o]));
                    }
                }
                for (int T : new int[]{2, 3, 4, 5, 17}) {
                    int start = N - T - 1;
                    float[] part = new float[T * rows];
                    MatMul.mul(T % 2 == 0 ? TWO : Parallel.SERIAL, w, x, start * cols, cols, T, part, 0, rows);
                    for (int i = 0; i < T * rows; i++) {
                        assertThat(Float.floatToRawIntBits(part[i])).as("%s batch of %d, output %d", type, T, i)
                                .isEqualTo(Float.floatToRawIntBits(all[start * rows + i]));
                    }
                }
            }
        }
    }

    /**
     * Q8_0 and Q4_0: the product equals, bit for bit, the F32 product of the decoded weights (the format's
     * reference {@code dequantize}) with the activations after Q8_0 quantization and decoding (llama.cpp's
     * activation quantizer, written out here: fp16 scale amax/127, round half to even), for T = 1 and T = 9,
     * when both operands are taken in the kernels' documented order within each block of 32 (16-lane vectors:
     * the natural order; 8 lanes: Q8_0 position 8j + i holds value 4i + j, Q4_0 groups of 8 in the order
     * 0, 2, 1, 3).
     */
    @Test
    void q8_0AndQ4_0EqualF32OnDecodedWeightsAndActivations() {
        SplittableRandom r = new SplittableRandom(19);
        int rows = 23, cols = 320;
        for (DType type : new DType[]{DType.Q8_0, DType.Q4_0}) {
            Tensor w = quantized(type, rows, cols, r);
            float[] dec = new float[rows * cols];
            org.jmoe.tensor.quant.BlockFormats.of(type).dequantize(w.data(), 0, dec, 0, rows * cols);
            MemorySegment f = ARENA.allocate(4L * rows * cols, 64);
            for (int i = 0; i < rows * cols; i++) f.setAtIndex(ValueLayout.JAVA_FLOAT, i, dec[kernelOrder(type, i)]);
            Tensor wf = new Tensor("wf", DType.F32, new long[]{cols, rows}, f);
            for (int T : new int[]{1, 9}) {
                float[] x = gaussian(T * cols, r);
                float[] xq = new float[x.length];
                for (int b = 0; b < x.length / 32; b++) {
                    float amax = 0;
                    for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[32 * b + i]));
                    float d = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
                    float id = amax == 0 ? 0 : 127f / amax;
                    for (int i = 0; i < 32; i++) xq[32 * b + i] = d * (float) Math.rint(x[32 * b + i] * id);
                }
                float[] xk = new float[x.length];
                for (int i = 0; i < x.length; i++) xk[i] = xq[kernelOrder(type, i)];
                xq = xk;
                float[] a = new float[T * rows], b = new float[T * rows];
                MatMul.mul(TWO, w, x, 0, cols, T, a, 0, rows);
                MatMul.mul(TWO, wf, xq, 0, cols, T, b, 0, rows);
                assertSameBits(b, a, type + " T=" + T);
            }
        }
    }

    /** The index of the value the Q8_0 / Q4_0 kernels read at position {@code p} (blocks of 32 stay in place). */
    private static int kernelOrder(DType type, int p) {
        int base = p & ~31, q = p & 31;
        if (MatMul.F.length() == 16) return p;
        if (type == DType.Q8_0) return base + 4 * (q & 7) + (q >> 3);
        int g = q >> 3, swapped = ((g & 1) << 1) | (g >> 1);
        return base + 8 * swapped + (q & 7);
    }

    /** A rows x cols matrix of {@code type}, quantized from Gaussian values by the format's reference quantizer. */
    private static Tensor quantized(DType type, int rows, int cols, SplittableRandom r) {
        MemorySegment seg = ARENA.allocate(type.bytesFor((long) rows * cols), 64);
        org.jmoe.tensor.quant.BlockFormat f = org.jmoe.tensor.quant.BlockFormats.of(type);
        float[] v = gaussian(rows * cols, r);
        f.quantize(v, 0, rows * cols, seg, 0);
        return new Tensor("w", type, new long[]{cols, rows}, seg);
    }

    private static void assertSameBits(float[] a, float[] b, String what) {
        for (int i = 0; i < a.length; i++) {
            assertThat(Float.floatToRawIntBits(b[i])).as("%s, output %d", what, i).isEqualTo(Float.floatToRawIntBits(a[i]));
        }
    }

    /** F16 and BF16 give exactly the F32 result on the same (decoded) values: activations are not rounded. */
    @Test
    void halfTypesEqualF32OnDecodedValues() {
        SplittableRandom r = new SplittableRandom(9);
        int rows = 11, cols = 77;
        for (DType type : new DType[]{DType.F16, DType.BF16}) {
            W w = weights(type, rows, cols, r, null);
            MemorySegment f = ARENA.allocate(4L * rows * cols, 64);
            for (int i = 0; i < rows * cols; i++) f.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) w.values[i]);
            Tensor wf = new Tensor("wf", DType.F32, new long[]{cols, rows}, f);
            for (int T : new int[]{1, 6}) {
                float[] x = gaussian(T * cols, r);
                float[] a = new float[T * rows], b = new float[T * rows];
                MatMul.mul(TWO, w.t, x, 0, cols, T, a, 0, rows);
                MatMul.mul(TWO, wf, x, 0, cols, T, b, 0, rows);
                assertSameBits(b, a, type + " T=" + T);
            }
        }
    }

    @Test
    void parallelRunsEveryTaskOnce() {
        for (int count : new int[]{1, 2, 3, 17, 1000}) {
            AtomicIntegerArray seen = new AtomicIntegerArray(count);
            TWO.forEach(count, (task, worker) -> {
                assertThat(worker).isBetween(0, 1);
                seen.incrementAndGet(task);
            });
            for (int i = 0; i < count; i++) assertThat(seen.get(i)).isEqualTo(1);
        }
        TWO.forEach(0, (task, worker) -> { throw new AssertionError("no tasks expected"); });
    }

    @Test
    void parallelManySmallLoops() {
        AtomicInteger sum = new AtomicInteger();
        int loops = 5_000;
        for (int i = 0; i < loops; i++) TWO.forEach(3, (task, worker) -> sum.addAndGet(task + 1));
        assertThat(sum.get()).isEqualTo(loops * 6);
    }

    @Test
    void parallelExceptionsPropagateAndThePoolSurvives() {
        assertThatThrownBy(() -> TWO.forEach(50, (task, worker) -> {
            if (task == 37) throw new IllegalStateException("task 37");
        })).isInstanceOf(IllegalStateException.class).hasMessage("task 37");
        assertThatThrownBy(() -> TWO.forEach(50, (task, worker) -> {
            if (task == 3) throw new StackOverflowError("deep");
        })).isInstanceOf(StackOverflowError.class);
        AtomicInteger n = new AtomicInteger();
        TWO.forEach(100, (task, worker) -> n.incrementAndGet());
        assertThat(n.get()).isEqualTo(100);
    }

    @Test
    void nestedForEachRunsSeriallyOnTheCallingThread() {
        AtomicInteger inner = new AtomicInteger();
        AtomicInteger wrongThread = new AtomicInteger();
        TWO.forEach(8, (task, worker) -> {
            Thread outer = Thread.currentThread();
            TWO.forEach(5, (t2, w2) -> {
                if (Thread.currentThread() != outer || w2 != 0) wrongThread.incrementAndGet();
                inner.incrementAndGet();
            });
        });
        assertThat(inner.get()).isEqualTo(40);
        assertThat(wrongThread.get()).isZero();
    }
}
