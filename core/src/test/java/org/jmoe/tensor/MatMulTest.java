package org.jmoe.tensor;

import jdk.incubator.vector.ShortVector;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

class MatMulTest {
    @Test
    void halfToFloatIsExactForEveryHalf() {
        short[] h = new short[8];
        float[] got = new float[8];
        for (int base = 0; base < 65536; base += 8) {
            for (int i = 0; i < 8; i++) h[i] = (short) (base + i);
            HalfKernels.halfToFloat(ShortVector.fromArray(ShortVector.SPECIES_128, h, 0)).intoArray(got, 0);
            for (int i = 0; i < 8; i++) {
                float want = Float.float16ToFloat(h[i]);
                if (Float.isNaN(want)) assertThat(got[i]).isNaN();
                else assertThat(Float.floatToRawIntBits(got[i])).as("half 0x%04x", base + i).isEqualTo(Float.floatToRawIntBits(want));
            }
        }
    }

    /** Every dtype and shape against a double-precision product of the decoded weights. */
    @Test
    void matchesDoublePrecisionForAllFloatTypesAndOddShapes() {
        SplittableRandom r = new SplittableRandom(4);
        Parallel pool = new Parallel(2);
        try (Arena arena = Arena.ofShared()) {
            for (DType type : new DType[]{DType.F32, DType.F16, DType.BF16}) {
                for (int[] shape : new int[][]{{1, 8}, {5, 13}, {17, 64}, {33, 100}, {64, 1024}}) {
                    int rows = shape[0], cols = shape[1];
                    MemorySegment seg = arena.allocate(type.bytesFor((long) rows * cols), 64);
                    double[] wd = new double[rows * cols];
                    for (int i = 0; i < rows * cols; i++) {
                        float v = (float) r.nextGaussian();
                        switch (type) {
                            case F32 -> { seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, v); wd[i] = v; }
                            case F16 -> { short hv = Float.floatToFloat16(v); seg.setAtIndex(ValueLayout.JAVA_SHORT, i, hv); wd[i] = Float.float16ToFloat(hv); }
                            default -> { short bv = (short) (Float.floatToRawIntBits(v) >>> 16); seg.setAtIndex(ValueLayout.JAVA_SHORT, i, bv); wd[i] = Float.intBitsToFloat(bv << 16); }
                        }
                    }
                    Tensor w = new Tensor("w", type, new long[]{cols, rows}, seg);
                    for (int T : new int[]{1, 2, 3, 5, 17}) {
                        float[] x = new float[T * cols + 3];
                        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
                        float[] y = new float[T * (rows + 2) + 1];
                        MatMul.mul(pool, w, x, 3, cols, T, y, 1, rows + 2);
                        for (int t = 0; t < T; t++) {
                            for (int o = 0; o < rows; o++) {
                                double want = 0, mag = 0;
                                for (int k = 0; k < cols; k++) {
                                    want += wd[o * cols + k] * x[3 + t * cols + k];
                                    mag += Math.abs(wd[o * cols + k] * x[3 + t * cols + k]);
                                }
                                // float accumulation over `cols` products: error <= cols * 2^-24 * sum|products|
                                assertThat((double) y[1 + t * (rows + 2) + o]).isCloseTo(want, org.assertj.core.data.Offset.offset(cols * 6e-8 * mag + 1e-6));
                            }
                        }
                    }
                }
            }
        } finally {
            pool.close();
        }
    }

    /** A row's result is bit-identical whatever else is in the batch and however many threads run it. */
    @Test
    void batchInvariance() {
        SplittableRandom r = new SplittableRandom(8);
        try (Arena arena = Arena.ofShared()) {
            int rows = 37, cols = 203;
            MemorySegment seg = arena.allocate(4L * rows * cols, 64);
            for (int i = 0; i < rows * cols; i++) seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            Tensor w = new Tensor("w", DType.F32, new long[]{cols, rows}, seg);
            float[] x = new float[130 * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] all = new float[130 * rows];
            Parallel two = new Parallel(2);
            MatMul.mul(two, w, x, 0, cols, 130, all, 0, rows);
            two.close();
            for (int t : new int[]{0, 3, 64, 129}) {
                float[] one = new float[rows];
                MatMul.mul(Parallel.SERIAL, w, x, t * cols, cols, 1, one, 0, rows);
                for (int o = 0; o < rows; o++) assertThat(Float.floatToRawIntBits(one[o])).isEqualTo(Float.floatToRawIntBits(all[t * rows + o]));
            }
        }
    }
}
