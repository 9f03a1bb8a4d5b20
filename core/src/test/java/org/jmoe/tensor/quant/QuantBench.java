package org.jmoe.tensor.quant;

import org.jmoe.tensor.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Single-thread speed of {@link BlockFormat#dotRows} for one token over a 4096 x 4096 weight matrix per type,
 * reported as GB/s of weight bytes streamed (the decode hot path is memory-bound). Not a test: run with
 * {@code java --add-modules jdk.incubator.vector -cp core/target/classes:core/target/test-classes
 * org.jmoe.tensor.quant.QuantBench [types...]}.
 */
public final class QuantBench {
    private QuantBench() {}

    public static void main(String[] args) {
        int rows = 4096, cols = 4096, reps = 30, rowBlock = 16;
        DType[] types = args.length == 0
                ? new DType[]{DType.Q8_0, DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1,
                              DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K}
                : Arrays.stream(args).map(DType::valueOf).toArray(DType[]::new);
        SplittableRandom r = new SplittableRandom(1);
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float) r.nextGaussian();
        float[] out = new float[rows];
        System.out.printf("%-5s %8s %9s %9s%n", "type", "MB", "best GB/s", "median");
        for (DType t : types) {
            BlockFormat f = BlockFormats.of(t);
            if (f == null) { System.out.printf("%-5s (no format)%n", t); continue; }
            long rowBytes = t.bytesFor(cols);
            MemorySegment w = Arena.ofAuto().allocate(rowBytes * rows, 64);
            // 16 distinct rows with realistic scales, repeated over the matrix (speed does not depend on values)
            int distinct = 16;
            float[] row = new float[cols];
            for (int k = 0; k < distinct; k++) {
                for (int i = 0; i < cols; i++) row[i] = (float) (r.nextGaussian() * 0.02);
                if (BlockFormats.canQuantize(t)) f.quantize(row, 0, cols, w, k * rowBytes);
                else BlockFormatTest.randomBlocks(t, w, k * rowBytes, cols / 256, r);
            }
            for (int k = distinct; k < rows; k++) MemorySegment.copy(w, (k % distinct) * rowBytes, w, k * rowBytes, rowBytes);
            QuantizedActs a = new QuantizedActs().ensure(f.actFormat(), 1, cols);
            ActQuant.quantizeRow(x, 0, a, 0);
            double[] gbs = new double[reps];
            // warm up until C2 has compiled the kernels (the Vector API is slow until then)
            long warmEnd = System.nanoTime() + 2_000_000_000L;
            while (System.nanoTime() < warmEnd) pass(f, w, rowBytes, rows, cols, a, out, rowBlock);
            for (int i = 0; i < reps; i++) {
                long t0 = System.nanoTime();
                pass(f, w, rowBytes, rows, cols, a, out, rowBlock);
                long ns = System.nanoTime() - t0;
                gbs[i] = (double) rowBytes * rows / ns;
            }
            Arrays.sort(gbs);
            System.out.printf("%-5s %8.1f %9.2f %9.2f%n", t, rowBytes * rows / 1e6, gbs[reps - 1], gbs[reps / 2]);
        }
    }

    private static void pass(BlockFormat f, MemorySegment w, long rowBytes, int rows, int cols, QuantizedActs a,
                             float[] out, int rowBlock) {
        for (int r0 = 0; r0 < rows; r0 += rowBlock) f.dotRows(w, 0, rowBytes, cols, a, 0, r0, r0 + rowBlock, out, r0);
    }
}
