package org.jmoe.jmh;

import org.jmoe.calibrate.MachineProbe;
import org.jmoe.model.ExpertKernels;
import org.jmoe.model.LayerWeights;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.MatMul;
import org.jmoe.tensor.Parallel;
import org.jmoe.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * JMH benchmarks of the engine's kernels on the machine's pool (threads: {@code -Djmoe.threads}, default all
 * cores). Each reports time per call; the bytes or FLOPs of a call are in the method's comment, so GB/s and
 * GFLOP/s follow (scripts/jmh prints them).
 *
 * <ul>
 *   <li>{@code matvec}: one token through a 4096 x 4096 weight per dtype (decode's operation; bytes = the
 *       weight's size: F32 64 MiB, Q8_0 17 MiB, Q4_0 9 MiB, Q4_K 9 MiB, Q6_K 13 MiB).</li>
 *   <li>{@code gemm}: 128 tokens through a 2048 x 2048 weight per dtype (prefill's operation; 2·128·2048² =
 *       1.07 GFLOP).</li>
 *   <li>{@code experts}: an MoE layer of 64 SwiGLU experts (1024 x 512, Q8_0), 64 tokens routed top-8, grouped vs
 *       dense kernel (2·3·64·8·1024·512 = 1.61 GFLOP).</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:LoopUnrollLimit=0", "-XX:ObjectAlignmentInBytes=64"})
public class KernelBench {
    @Param({"F32", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
    public String dtype;

    private MachineProbe probe;
    private Parallel pool;
    private Tensor mv, mm;
    private float[] x1, y1, xT, yT;
    private static final int MV = 4096, MM = 2048, T = 128;

    @Setup(Level.Trial)
    public void setUp() {
        pool = Parallel.global();
        probe = new MachineProbe(pool, true);
        DType t = DType.parse(dtype);
        mv = probe.randomWeight(t, MV, MV, 1);
        mm = probe.randomWeight(t, MM, MM, 2);
        x1 = random(MV, 3);
        y1 = new float[MV];
        xT = random(T * MM, 4);
        yT = new float[T * MM];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        probe.close();
    }

    static float[] random(int n, long seed) {
        return MachineProbe.randomFloats(n, seed);
    }

    /** Bytes read: the weight ({@code mv.byteSize()}). */
    @Benchmark
    public void matvec(Blackhole bh) {
        MatMul.mul(pool, mv, x1, 0, MV, 1, y1, 0, MV);
        bh.consume(y1);
    }

    /** FLOPs: 2·T·MM·MM. */
    @Benchmark
    public void gemm(Blackhole bh) {
        MatMul.mul(pool, mm, xT, 0, MM, T, yT, 0, MM);
        bh.consume(yT);
    }

    /** The expert stage of one MoE layer, grouped vs dense. */
    @State(Scope.Benchmark)
    public static class Experts {
        @Param({"GROUPED", "DENSE"})
        public String kernel;

        MachineProbe probe;
        Parallel pool;
        LayerWeights w;
        ExpertKernels k;
        int[] ids, start, count;
        int n;
        float[] x, y;

        @Setup(Level.Trial)
        public void setUp() {
            pool = Parallel.global();
            probe = new MachineProbe(pool, true);
            int E = 64, H = 1024, F = 512, tokens = 64, topK = 8;
            w = probe.syntheticExperts(DType.Q8_0, E, H, F);
            k = new ExpertKernels(H, F);
            int[] load = new int[E];
            SplittableRandom r = new SplittableRandom(5);
            for (int t = 0; t < tokens; t++) {
                boolean[] used = new boolean[E];
                for (int j = 0; j < topK; j++) {
                    int e;
                    do e = r.nextInt(E); while (used[e]);
                    used[e] = true;
                    load[e]++;
                }
            }
            ids = new int[E];
            start = new int[E];
            count = new int[E];
            int rows = 0;
            for (int e = 0; e < E; e++) {
                if (load[e] == 0) continue;
                ids[n] = e;
                start[n] = rows;
                count[n++] = load[e];
                rows += load[e];
            }
            x = random(rows * H, 6);
            y = new float[rows * H];
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            probe.close();
        }
    }

    /** FLOPs: 2·3·64·8·1024·512. Runs once per dtype parameter; the dtype does not apply (Q8_0 experts). */
    @Benchmark
    public void experts(Experts s, Blackhole bh) {
        if (!dtype.equals("Q8_0")) return;
        s.k.run(s.w, s.ids, s.start, s.count, s.n, s.x, s.y, s.pool, ExpertKernels.Choice.valueOf(s.kernel));
        bh.consume(s.y);
    }
}
