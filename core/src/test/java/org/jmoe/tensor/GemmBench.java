package org.jmoe.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Microbenchmark of {@link MatMul} (a main class, not a test). Weights live in a memory-mapped temporary
 * file, as a model's do. Prints, per shape and thread count, the best and median GFLOP/s over repeated calls
 * (prefill shapes) or GB/s of weight bytes read (T = 1 shapes), against the FMA peak this JVM measures on
 * this machine, plus the cost of an empty parallel loop.
 *
 * <p>Run with the engine's JVM flags (as the launcher and tests do):
 * {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:LoopUnrollLimit=0
 * -XX:ObjectAlignmentInBytes=64 -cp core/target/classes:core/target/test-classes org.jmoe.tensor.GemmBench [filter] [seconds]}.
 * The filter keeps the cases whose label contains it (or one of its {@code |}-separated parts).
 */
public final class GemmBench {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;

    private record Case(String label, DType type, int rows, int cols, int T) {}

    public static void main(String[] args) throws IOException {
        String filter = args.length > 0 ? args[0] : "";
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 1.0;
        List<Case> cases = new ArrayList<>();
        cases.add(new Case("F32 1024x1024 T=128", DType.F32, 1024, 1024, 128));
        cases.add(new Case("F32 512x1024 T=16", DType.F32, 512, 1024, 16));
        cases.add(new Case("F32 1024x512 T=16", DType.F32, 1024, 512, 16));
        cases.add(new Case("F32 512x1024 T=13", DType.F32, 512, 1024, 13));
        cases.add(new Case("F32 32000x1024 T=128", DType.F32, 32000, 1024, 128));
        cases.add(new Case("F16 1024x1024 T=128", DType.F16, 1024, 1024, 128));
        cases.add(new Case("F16 512x1024 T=16", DType.F16, 512, 1024, 16));
        cases.add(new Case("BF16 1024x1024 T=128", DType.BF16, 1024, 1024, 128));
        cases.add(new Case("BF16 512x1024 T=16", DType.BF16, 512, 1024, 16));
        cases.add(new Case("matvec F32 4096x4096 T=1", DType.F32, 4096, 4096, 1));
        cases.add(new Case("matvec F32 1024x1024 T=1", DType.F32, 1024, 1024, 1));
        cases.add(new Case("matvec F16 4096x4096 T=1", DType.F16, 4096, 4096, 1));
        cases.add(new Case("matvec BF16 4096x4096 T=1", DType.BF16, 4096, 4096, 1));

        double peak1 = measurePeak(seconds);
        System.out.printf("FMA peak measured on one core: %.1f GFLOP/s (two cores: %.1f)%n", peak1, 2 * peak1);
        for (int threads : new int[]{1, 2}) {
            Parallel pool = new Parallel(threads);
            System.out.printf("threads=%d: empty forEach(2) %.2f us, forEach(64) of empty tasks %.2f us%n",
                    threads, emptyLoop(pool, 2) * 1e6, emptyLoop(pool, 64) * 1e6);
            pool.close();
        }
        Path dir = Files.createTempDirectory("gemmbench");
        try {
            for (Case c : cases) {
                if (Arrays.stream(filter.split("\\|")).noneMatch(c.label::contains)) continue;
                run(c, dir, seconds, peak1);
            }
        } finally {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        }
    }

    private static void run(Case c, Path dir, double seconds, double peak1) throws IOException {
        long bytes = c.type.bytesFor((long) c.rows * c.cols);
        Path file = dir.resolve("w.bin");
        SplittableRandom r = new SplittableRandom(1);
        try (Arena build = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, build);
            long n = (long) c.rows * c.cols;
            for (long i = 0; i < n; i++) {
                float v = (float) (r.nextGaussian() * 0.05);
                switch (c.type) {
                    case F32 -> m.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, v);
                    case F16 -> m.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Float.floatToFloat16(v));
                    default -> m.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (Float.floatToRawIntBits(v) >>> 16));
                }
            }
            m.force();
        }
        try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes, arena);
            Tensor w = new Tensor("w", c.type, new long[]{c.cols, c.rows}, seg);
            float[] x = new float[c.T * c.cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] y = new float[c.T * c.rows];
            double flops = 2.0 * c.rows * c.cols * c.T;
            for (int threads : new int[]{1, 2}) {
                Parallel pool = new Parallel(threads);
                try {
                    double[] t = time(() -> MatMul.mul(pool, w, x, 0, c.cols, c.T, y, 0, c.rows), seconds);
                    double best = t[0], median = t[1];
                    if (c.T == 1) {
                        System.out.printf("%-28s threads=%d  best %6.1f GB/s  median %6.1f GB/s  (%.3f ms)%n",
                                c.label, threads, bytes / best * 1e-9, bytes / median * 1e-9, median * 1e3);
                    } else {
                        double gBest = flops / best * 1e-9, gMed = flops / median * 1e-9;
                        System.out.printf("%-28s threads=%d  best %6.1f GFLOP/s (%3.0f%% of measured peak, %3.0f%% of 102.4/core)  median %6.1f GFLOP/s (%.3f ms)%n",
                                c.label, threads, gBest, 100 * gBest / (peak1 * threads), 100 * gBest / (102.4 * threads),
                                gMed, median * 1e3);
                    }
                } finally {
                    pool.close();
                }
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** Best and median seconds per call of {@code task}, after a warm-up. */
    private static double[] time(Runnable task, double seconds) {
        long warmEnd = System.nanoTime() + (long) (seconds * 0.5e9);
        int warm = 0;
        while (System.nanoTime() < warmEnd || warm < 3) { task.run(); warm++; }
        List<Double> samples = new ArrayList<>();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end || samples.size() < 5) {
            long t0 = System.nanoTime();
            task.run();
            samples.add((System.nanoTime() - t0) * 1e-9);
        }
        double[] s = samples.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(s);
        return new double[]{s[0], s[s.length / 2]};
    }

    /** Mean seconds of a loop of {@code tasks} empty tasks. */
    private static double emptyLoop(Parallel pool, int tasks) {
        Parallel.Body nop = (task, worker) -> {};
        for (int i = 0; i < 200_000; i++) pool.forEach(tasks, nop);
        int n = 200_000;
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) pool.forEach(tasks, nop);
        return (System.nanoTime() - t0) * 1e-9 / n;
    }

    /** GFLOP/s of 12 independent 8-lane FMA chains on one core (the machine's FMA throughput). */
    private static double measurePeak(double seconds) {
        float[] out = new float[8];
        double best = 0;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        for (int i = 0; i < 20_000; i++) fmaChains(100, out);
        while (System.nanoTime() < end) {
            int iters = 20_000, calls = 50;
            long t0 = System.nanoTime();
            for (int i = 0; i < calls; i++) fmaChains(iters, out);
            double s = (System.nanoTime() - t0) * 1e-9;
            best = Math.max(best, (double) calls * iters * 12 * 16 / s * 1e-9);
        }
        return best;
    }

    private static void fmaChains(int iters, float[] out) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f), a = FloatVector.broadcast(F, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(F, 1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        FloatVector c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < iters; i++) {
            c0 = m.fma(a, c0); c1 = m.fma(a, c1); c2 = m.fma(a, c2); c3 = m.fma(a, c3);
            c4 = m.fma(a, c4); c5 = m.fma(a, c5); c6 = m.fma(a, c6); c7 = m.fma(a, c7);
            c8 = m.fma(a, c8); c9 = m.fma(a, c9); c10 = m.fma(a, c10); c11 = m.fma(a, c11);
        }
        c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).intoArray(out, 0);
    }
}
