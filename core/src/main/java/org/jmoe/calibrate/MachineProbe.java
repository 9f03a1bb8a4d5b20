package org.jmoe.calibrate;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.jmoe.format.RowEncoder;
import org.jmoe.model.ExpertKernels;
import org.jmoe.model.LayerWeights;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.MatMul;
import org.jmoe.tensor.Parallel;
import org.jmoe.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The measurements behind {@code jmoe calibrate}, each the best of a few repetitions on this JVM's pool:
 * register-resident FMA peak, the engine's F32 GEMM, streaming read bandwidth, matrix-vector bandwidth per
 * dtype, in-process copy bandwidth and hand-off latency, the grouped-vs-dense expert kernel sweep and the EPS
 * per-chunk overhead.
 */
public final class MachineProbe {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private final Parallel pool;
    private final boolean quick;
    private final Arena arena = Arena.ofShared();

    /** {@code quick}: smaller sizes and fewer repetitions (seconds, for tests); the figures are rougher. */
    public MachineProbe(Parallel pool, boolean quick) {
        this.pool = pool;
        this.quick = quick;
    }

    private int reps() { return quick ? 2 : 5; }

    /** Best wall time of {@code reps} runs after warming up (at least 3 runs and 150 ms: the JIT compiles the kernels), in nanoseconds. */
    static long best(int reps, Runnable r) {
        long warm = System.nanoTime();
        for (int i = 0; i < 3 || (i < 1000 && System.nanoTime() - warm < 150_000_000L); i++) r.run();
        long best = Long.MAX_VALUE;
        for (int i = 0; i < reps; i++) {
            long t = System.nanoTime();
            r.run();
            best = Math.min(best, System.nanoTime() - t);
        }
        return Math.max(1, best);
    }

    /**
     * Median wall time of {@code reps} runs after the same warm-up as {@link #best}, in nanoseconds: for probes of
     * devices running at once, whose run is the slowest device's, so that one device disturbed by anything else on the
     * machine (the collector, the compiler, the system) lengthens the whole run. The fastest run is the rare one where
     * none was; a layer of a benchmark is a typical one.
     */
    static long median(int reps, Runnable r) {
        long warm = System.nanoTime();
        for (int i = 0; i < 3 || (i < 1000 && System.nanoTime() - warm < 150_000_000L); i++) r.run();
        long[] t = new long[Math.max(1, reps)];
        for (int i = 0; i < t.length; i++) {
            long t0 = System.nanoTime();
            r.run();
            t[i] = System.nanoTime() - t0;
        }
        java.util.Arrays.sort(t);
        return Math.max(1, t[t.length / 2]);
    }

    /** GFLOP/s of independent FMA chains held in registers, all threads. */
    public double peakGflopsF32() {
        final int iters = quick ? 2_000_000 : 20_000_000;
        float[] sink = new float[pool.threads()];
        long ns = best(reps(), () -> pool.forEach(pool.threads(), (task, w) -> sink[task] = fmaChains(iters)));
        double flops = 2.0 * F.length() * 8 * iters * pool.threads();
        return flops / ns;
    }

    /** Eight independent accumulators: enough to cover FMA latency × throughput on current x86 and ARM cores. */
    private static float fmaChains(int iters) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f), a = FloatVector.broadcast(F, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(F, 1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        for (int i = 0; i < iters; i++) {
            c0 = c0.fma(m, a); c1 = c1.fma(m, a); c2 = c2.fma(m, a); c3 = c3.fma(m, a);
            c4 = c4.fma(m, a); c5 = c5.fma(m, a); c6 = c6.fma(m, a); c7 = c7.fma(m, a);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).reduceLanes(VectorOperators.ADD);
    }

    /** A random weight matrix of {@code rows x cols} in {@code type}, off-heap. */
    public Tensor randomWeight(DType type, int rows, int cols, long seed) {
        return randomWeight(arena, type, rows, cols, seed);
    }

    private final java.util.Map<String, byte[][]> rowBanks = new java.util.HashMap<>();

    /** As above, allocated in {@code where}. */
    Tensor randomWeight(Arena where, DType type, int rows, int cols, long seed) {
        long rowBytes = type.bytesFor(cols);
        MemorySegment seg = where.allocate(rowBytes * rows, 64);
        // a bank of 64 encoded random rows per dtype and width, repeated with a seed-dependent offset: the kernels'
        // speed does not depend on the values, and encoding (K-quants especially) is slow
        byte[][] bank = rowBanks.computeIfAbsent(type + "/" + cols, k -> {
            RowEncoder enc = RowEncoder.of(type);
            SplittableRandom r = new SplittableRandom(cols * 31L + type.ordinal());
            byte[][] b = new byte[64][(int) rowBytes];
            float[] row = new float[cols];
            for (byte[] e : b) {
                for (int i = 0; i < cols; i++) row[i] = (float) (r.nextGaussian() * 0.05);
                enc.encode(row, e);
            }
            return b;
        });
        int off = (int) Math.floorMod(seed * 7, 64);
        for (int i = 0; i < rows; i++) MemorySegment.copy(MemorySegment.ofArray(bank[(i + off) % 64]), 0, seg, i * rowBytes, rowBytes);
        return new Tensor("calibrate." + type, type, new long[]{cols, rows}, seg);
    }

    /** A layer of {@code experts} random SwiGLU experts ({@code hidden} x {@code ffn}) in {@code type}, off-heap. */
    public LayerWeights syntheticExperts(DType type, int experts, int hidden, int ffn) {
        LayerWeights w = new LayerWeights();
        w.expGate = new Tensor[experts];
        w.expUp = new Tensor[experts];
        w.expDown = new Tensor[experts];
        for (int e = 0; e < experts; e++) {
            w.expGate[e] = randomWeight(type, ffn, hidden, 3L * e);
            w.expUp[e] = randomWeight(type, ffn, hidden, 3L * e + 1);
            w.expDown[e] = randomWeight(type, hidden, ffn, 3L * e + 2);
        }
        return w;
    }

    /** GFLOP/s of the engine's F32 GEMM on a prefill-shaped product (2048 x 2048 weights, 128 tokens). */
    public double gemmGflopsF32() {
        return gemmGflops(DType.F32);
    }

    /**
     * GFLOP/s of the engine's GEMM with weights in {@code type} on a prefill-shaped product (2048 x 2048 weights,
     * 128 tokens): for the block formats this includes quantizing the activations and decoding the weights.
     */
    public double gemmGflops(DType type) {
        int n = quick ? 1024 : 2048, T = quick ? 64 : 128;
        Tensor w = randomWeight(type, n, n, 1);
        float[] x = randomFloats(T * n, 2), y = new float[T * n];
        long ns = best(reps(), () -> MatMul.mul(pool, w, x, 0, n, T, y, 0, n));
        return 2.0 * n * n * T / ns;
    }

    /** GB/s of a vectorised streaming read (sum) of a buffer larger than the caches ({@link #streamBytes()}), all threads. */
    public double memoryBandwidthGbs() {
        long bytes = streamBytes();
        try (Arena buf = Arena.ofShared()) {
            MemorySegment seg = buf.allocate(bytes, 64);
            seg.fill((byte) 1);
            int parts = pool.threads();
            float[] sink = new float[parts];
            long ns = best(reps(), () -> pool.forEach(parts, (task, w) -> {
                long from = bytes * task / parts / 64 * 64, to = bytes * (task + 1) / parts / 64 * 64;
                FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
                int step = F.vectorByteSize();
                for (long o = from; o + 2L * step <= to; o += 2L * step) {
                    acc0 = acc0.add(FloatVector.fromMemorySegment(F, seg, o, ByteOrder.LITTLE_ENDIAN));
                    acc1 = acc1.add(FloatVector.fromMemorySegment(F, seg, o + step, ByteOrder.LITTLE_ENDIAN));
                }
                sink[task] = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
            }));
            return (double) bytes / ns;
        }
    }

    /**
     * Weight GB/s of the engine's matrix-vector products (one token) for {@code type}, all threads, the way decode
     * streams a model: many distinct 1024 x 2048 matrices (2–8 MB each) one after another, over a working set larger
     * than the last-level cache ({@link #streamBytes()}), so the figure is DRAM-bound as decode is.
     */
    public double matvecGbs(DType type) {
        long[] pass = matvecPass(type, 1024, 2048);
        return (double) pass[1] / pass[0];
    }

    /**
     * The fixed cost of one matrix-vector product beside its streaming ({@code t = t0 + bytes / bw}): the same
     * working set streamed as 1024 x 2048 matrices and as four times as many 512 x 1024 ones (an MoE expert's
     * size); t0 = the difference of the two passes over the difference of their product counts, in microseconds
     * (at least 0), and bw = bytes over the large pass less its products' t0, in GB/s.
     */
    public MatvecCost matvecCost(DType type) {
        long[] large = matvecPass(type, 1024, 2048), small = matvecPass(type, 512, 1024);
        double t0 = Math.max(0, (double) (small[0] - large[0]) / (small[2] - large[2]));
        double stream = large[0] - large[2] * t0;
        return new MatvecCost((double) large[1] / large[0], t0 / 1e3, (double) large[1] / stream);
    }

    /** Matrix-vector figures of one dtype: the plain rate of 1024 x 2048 products, the fixed cost per product, and the rate without it. */
    public record MatvecCost(double gbs, double callUs, double streamGbs) { }

    /**
     * Weight GB/s of one-token products over a model's own expert matrices — every gate, up and down projection of
     * every given layer, experts in a shuffled order as a router picks them, in the model's memory-mapped file — as
     * decode streams them: the same kernels as {@link #matvecGbs} on the model's shapes, pages and access pattern
     * rather than on anonymous 1024 x 2048 matrices read in address order.
     */
    public ModelMatvec modelMatvec(List<LayerWeights> layers) {
        List<Tensor> ws = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(11);
        for (LayerWeights l : layers) {
            if (l.expGate == null) continue;
            // in the order a router picks them, not the file's: each expert starts somewhere else in memory
            int[] order = new int[l.expGate.length];
            for (int e = 0; e < order.length; e++) order[e] = e;
            for (int e = order.length - 1; e > 0; e--) {
                int j = r.nextInt(e + 1), t = order[e];
                order[e] = order[j];
                order[j] = t;
            }
            for (int e : order) {
                ws.add(l.expGate[e]);
                ws.add(l.expUp[e]);
                ws.add(l.expDown[e]);
            }
        }
        if (ws.isEmpty()) throw new IllegalArgumentException("no expert matrices to stream");
        long bytes = 0;
        int maxCols = 0, maxRows = 0;
        for (Tensor w : ws) {
            bytes += w.data().byteSize();
            maxCols = Math.max(maxCols, w.cols());
            maxRows = Math.max(maxRows, w.rows());
        }
        float[] x = randomFloats(maxCols, 4), y = new float[maxRows];
        final int mc = maxCols;
        long ns = best(quick ? 1 : 3, () -> {
            for (Tensor w : ws) MatMul.mul(pool, w, x, 0, mc, 1, y, 0, w.rows());
        });
        return new ModelMatvec(ns / 1e6, bytes, ws.size());
    }

    /**
     * A decode step's routed experts as the engine runs them: for each of a model's MoE layers in turn, one token's
     * {@code k} distinct random experts through the grouped kernel ({@link ExpertKernels}, each thread running whole
     * experts one after another), as {@code LocalExperts} runs a one-token layer. Passes over all the layers after a
     * warm-up (the JIT compiles the kernel for the model's shapes and format); the median pass, per layer. The layers
     * come one after another as in a forward pass, so each finds only what the previous passes left in the caches,
     * not its own weights of a moment before (a probe that repeated one layer would time it from the cache).
     */
    public DecodeModel decodeModel(List<LayerWeights> layers, int hidden, int ffn, int k) {
        List<LayerWeights> moe = new ArrayList<>();
        for (LayerWeights l : layers) if (l.expGate != null) moe.add(l);
        if (moe.isEmpty()) throw new IllegalArgumentException("no expert layers to decode through");
        int experts = moe.getFirst().expGate.length;
        if (k < 1 || k > experts) throw new IllegalArgumentException("top-k " + k + " outside 1.." + experts);
        long bytes = moe.getFirst().expGate[0].data().byteSize() + moe.getFirst().expUp[0].data().byteSize() + moe.getFirst().expDown[0].data().byteSize();
        ExpertKernels kern = new ExpertKernels(hidden, ffn);
        int[] start = new int[k], count = new int[k];
        for (int i = 0; i < k; i++) { start[i] = i; count[i] = 1; }
        float[] x = randomFloats(k * hidden, 8), y = new float[k * hidden];
        int warm = quick ? 2 : 8, passes = quick ? 3 : 15;
        // every pass's routing drawn up front: nothing allocated inside the timed passes
        SplittableRandom r = new SplittableRandom(13);
        int[][][] ids = new int[warm + passes][moe.size()][];
        for (int[][] pass : ids) for (int l = 0; l < pass.length; l++) pass[l] = route(1, experts, k, r).ids;
        long[] t = new long[passes];
        for (int i = 0; i < warm + passes; i++) {
            long t0 = System.nanoTime();
            for (int l = 0; l < moe.size(); l++) kern.run(moe.get(l), ids[i][l], start, count, k, x, y, pool, ExpertKernels.Choice.GROUPED);
            if (i >= warm) t[i - warm] = System.nanoTime() - t0;
        }
        Arrays.sort(t);
        return new DecodeModel(t[passes / 2] / 1e6 / moe.size(), k * bytes, moe.size(), k, passes);
    }

    /** The median time of one MoE layer's one-token experts ({@link #decodeModel}), the weight bytes they read, over how many layers. */
    public record DecodeModel(double msPerLayer, long bytesPerLayer, int layers, int topK, int passes) {
        public double gbs() { return bytesPerLayer / (msPerLayer * 1e6); }
    }

    /** One pass over a model's expert matrices: its best time, the bytes streamed and the products run. */
    public record ModelMatvec(double ms, long bytes, int products) {
        public double gbs() { return bytes / (ms * 1e6); }
    }

    /** {best ns of one pass, bytes streamed, products} over distinct {@code rows x cols} matrices filling {@link #streamBytes()}. */
    private long[] matvecPass(DType type, int rows, int cols) {
        long each = type.bytesFor((long) rows * cols);
        int count = (int) Math.max(2, streamBytes() / each);
        try (Arena a = Arena.ofShared()) { // the pool's threads read it
            Tensor[] ws = new Tensor[count];
            for (int i = 0; i < count; i++) ws[i] = randomWeight(a, type, rows, cols, 3 + i);
            float[] x = randomFloats(cols, 4), y = new float[rows];
            long ns = best(reps(), () -> {
                for (Tensor w : ws) MatMul.mul(pool, w, x, 0, cols, 1, y, 0, rows);
            });
            return new long[]{ns, each * count, count};
        }
    }

    /** Bytes of a streaming probe: twice the last-level cache (at least 1 GiB), 64 MiB when quick. */
    long streamBytes() {
        if (quick) return 64L << 20;
        return Math.max(1L << 30, 2 * lastLevelCacheBytes());
    }

    /** The largest cache Linux reports for CPU 0 (0 when unknown). */
    static long lastLevelCacheBytes() {
        long best = 0;
        for (int i = 0; i < 8; i++) {
            java.nio.file.Path f = java.nio.file.Path.of("/sys/devices/system/cpu/cpu0/cache/index" + i + "/size");
            try {
                String v = java.nio.file.Files.readString(f).strip();
                long mul = v.endsWith("K") ? 1L << 10 : v.endsWith("M") ? 1L << 20 : v.endsWith("G") ? 1L << 30 : 1;
                long n = Long.parseLong(Character.isDigit(v.charAt(v.length() - 1)) ? v : v.substring(0, v.length() - 1));
                best = Math.max(best, n * mul);
            } catch (java.io.IOException | RuntimeException ignored) {
                // no such level, or not Linux
            }
        }
        return Math.min(best, 8L << 30);
    }

    /** In-process copy bandwidth, GB/s (bytes copied once per second). */
    public double copyGbs() {
        int n = quick ? 4 << 20 : 32 << 20;
        float[] a = randomFloats(n, 5), b = new float[n];
        long ns = best(reps(), () -> System.arraycopy(a, 0, b, 0, n));
        return 4.0 * n / ns;
    }

    /** Median round trip of handing a task to another thread and waiting for it, microseconds. */
    public double handOffLatencyUs() {
        ExecutorService ex = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "jmoe-calibrate-handoff");
            t.setDaemon(true);
            return t;
        });
        try {
            int n = quick ? 200 : 2000;
            long[] t = new long[n];
            for (int i = 0; i < n; i++) {
                long a = System.nanoTime();
                Future<?> f = ex.submit(() -> { });
                f.get();
                t[i] = System.nanoTime() - a;
            }
            Arrays.sort(t);
            return Math.max(0.1, t[n / 2] / 1e3);
        } catch (Exception e) {
            throw new IllegalStateException("hand-off probe failed", e);
        } finally {
            ex.shutdownNow();
        }
    }

    /** One point of the expert kernel sweep. */
    public record KernelPoint(int tokens, int topK, int activeExperts, double activePerThread, double groupedMs, double denseMs) { }

    /** The sweep and the crossover it implies. */
    public record KernelSweep(List<KernelPoint> points, double groupedMinActivePerThread) { }

    /**
     * Times grouped and dense expert kernels on {@code w} ({@code experts} experts of {@code hidden} x {@code ffn},
     * each token routed to {@code k} distinct random experts) for growing batches; the crossover is the smallest
     * active-experts-per-thread from which grouped is at least as fast at every larger point.
     */
    public KernelSweep expertKernels(LayerWeights w, int hidden, int ffn, int experts, int k) {
        List<KernelPoint> pts = new ArrayList<>();
        int[] sizes = quick ? new int[]{1, 4, 16, 64} : new int[]{1, 2, 4, 8, 16, 32, 64, 128, 256};
        SplittableRandom r = new SplittableRandom(7);
        // one token routed to 1, 2, 4.. experts, then growing batches at the model's k
        List<int[]> cases = new ArrayList<>();
        for (int kk = 1; kk < k; kk *= 2) cases.add(new int[]{1, kk});
        for (int T : sizes) cases.add(new int[]{T, k});
        for (int[] cs : cases) {
            int T = cs[0];
            Routed rt = route(T, experts, cs[1], r);
            float[] x = randomFloats(rt.rows * hidden, 8), y = new float[rt.rows * hidden];
            ExpertKernels kern = new ExpertKernels(hidden, ffn);
            long g = best(reps(), () -> kern.run(w, rt.ids, rt.start, rt.count, rt.n, x, y, pool, ExpertKernels.Choice.GROUPED));
            long d = best(reps(), () -> kern.run(w, rt.ids, rt.start, rt.count, rt.n, x, y, pool, ExpertKernels.Choice.DENSE));
            pts.add(new KernelPoint(T, cs[1], rt.n, (double) rt.n / pool.threads(), g / 1e6, d / 1e6));
        }
        return new KernelSweep(pts, crossover(pts, pool.threads()));
    }

    /**
     * One point of the mesh-device probe: {@code tokens} tokens routed at the layer's k, their rows split over
     * {@code devices} devices of one thread each (experts in contiguous blocks, as {@code bench-ep}'s default
     * placement), every device running its experts at once, as an in-process mesh or worker JVMs of one thread run a
     * layer. {@code deviceRows[d][i]}: rows of device d's i-th expert; {@code ms}: the slowest device's time, the
     * median run ({@link #median}).
     */
    public record MeshPoint(int tokens, int devices, int[][] deviceRows, double ms) { }

    /**
     * Decode steps of a model with its routed experts on an expert-parallel backend, as {@code bench-ep} generates:
     * one token at a time through every layer (attention here, the experts there), 16 steps of warm-up, then 48
     * timed; per MoE layer, the mean layer ({@code wallMs}), each device's mean compute as the backend clocked it, and
     * the mean of what each layer took beyond its busiest device's compute ({@code beyondMs}: the hand-offs, copies
     * and waits a one-token layer pays on top of its experts). Inside decode steps, not layers back to back: between
     * two layers the coordinator runs attention and the devices wait, and a layer so reached took 0.4 ms beyond its
     * compute on two one-thread devices here, where back to back it took 0.1. Without a backend (null), the
     * experts on this process's pool, as one device: only the attention per step is of use then.
     */
    public OneTokenLayers decodeLayers(org.jmoe.model.Model m, org.jmoe.parallel.ParallelExperts backend) {
        int warm = quick ? 4 : 16, steps = quick ? 8 : 48;
        int D = backend == null ? 0 : backend.times().devices();
        double[] sums = new double[2 + D]; // wall, beyond, compute per device
        int[] layers = {0};
        boolean[] timing = {false};
        long[] before = new long[D];
        org.jmoe.model.ExpertBackend timed = (layer, w, plan, xb, slotOut, p) -> {
            for (int d = 0; d < D; d++) before[d] = backend.times().computeNanos(d);
            long t0 = System.nanoTime();
            backend.compute(layer, w, plan, xb, slotOut, p);
            double ms = (System.nanoTime() - t0) / 1e6, busiest = 0;
            if (!timing[0]) return;
            for (int d = 0; d < D; d++) {
                double c = (backend.times().computeNanos(d) - before[d]) / 1e6;
                sums[2 + d] += c;
                busiest = Math.max(busiest, c);
            }
            sums[0] += ms;
            sums[1] += Math.max(0, ms - busiest);
            layers[0]++;
        };
        org.jmoe.model.Forward f = new org.jmoe.model.Forward(m, warm + steps + 2);
        f.setPool(pool);
        if (backend != null) f.setExpertBackend(timed);
        float[] logits = new float[m.config().vocab];
        int[] token = {1 % m.config().vocab};
        for (int i = 0; i < warm + steps; i++) {
            timing[0] = i >= warm;
            if (i == warm) f.resetStageTimes();
            f.eval(token, logits, false);
            int best = 0;
            for (int v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
            token[0] = best;
        }
        int n = Math.max(1, layers[0]);
        double[] compute = new double[D];
        for (int d = 0; d < D; d++) compute[d] = sums[2 + d] / n;
        return new OneTokenLayers(sums[0] / n, compute, sums[1] / n, layers[0], f.stageTimes().attentionNanos() / 1e6 / steps, steps);
    }

    /**
     * What {@link #decodeLayers} measured: mean layer, mean compute per device, mean time beyond the busiest device's
     * compute, layers timed (none without a backend), and the attention blocks' time per decode step over the steps timed.
     */
    public record OneTokenLayers(double wallMs, double[] computeMs, double beyondMs, int layers, double attentionMs, int steps) { }

    /**
     * The expert layer on the machine cut into one-thread devices (as many as the pool has threads), for batches of
     * {@code sizes} tokens; empty on one thread or when the experts do not split evenly.
     */
    public List<MeshPoint> meshDevices(LayerWeights w, int hidden, int ffn, int experts, int k, int[] sizes) {
        int D = pool.threads();
        List<MeshPoint> out = new ArrayList<>();
        if (D < 2 || experts % D != 0) return out;
        SplittableRandom r = new SplittableRandom(13);
        Parallel[] ones = new Parallel[D];
        for (int d = 0; d < D; d++) ones[d] = new Parallel(1);
        try {
            for (int T : sizes) {
                int[][] te = new int[T][];
                for (int t = 0; t < T; t++) te[t] = distinct(experts, k, r);
                Routed[] rt = new Routed[D];
                float[][] xs = new float[D][], ys = new float[D][];
                ExpertKernels[] kern = new ExpertKernels[D];
                int[][] rows = new int[D][experts / D];
                for (int d = 0; d < D; d++) {
                    int lo = d * experts / D;
                    rt[d] = group(te, 0, T, lo, (d + 1) * experts / D);
                    for (int i = 0; i < rt[d].n; i++) rows[d][rt[d].ids[i] - lo] = rt[d].count[i];
                    xs[d] = randomFloats(Math.max(1, rt[d].rows) * hidden, 20 + d);
                    ys[d] = new float[Math.max(1, rt[d].rows) * hidden];
                    kern[d] = new ExpertKernels(hidden, ffn);
                }
                long ns = median(quick ? 3 : 9, () -> pool.forEach(D, (d, worker) -> {
                    if (rt[d].n > 0) kern[d].run(w, rt[d].ids, rt[d].start, rt[d].count, rt[d].n, xs[d], ys[d], ones[d], ExpertKernels.Choice.AUTO);
                }));
                out.add(new MeshPoint(T, D, rows, ns / 1e6));
            }
        } finally {
            for (Parallel p : ones) p.close();
        }
        return out;
    }

    /** The smallest active-per-thread from which grouped wins (or ties) at every larger point. */
    static double crossover(List<KernelPoint> pts, int threads) {
        if (threads == 1) return 2.0; // nothing to group over; the documented default
        List<KernelPoint> s = new ArrayList<>(pts);
        s.sort((a, b) -> Double.compare(a.activePerThread(), b.activePerThread()));
        double x = 2 * s.getLast().activePerThread(); // grouped never wins: beyond anything measured
        for (int i = s.size() - 1; i >= 0; i--) {
            if (s.get(i).groupedMs() <= s.get(i).denseMs()) x = s.get(i).activePerThread();
            else break;
        }
        return Math.max(x, 1.0 / threads);
    }

    /**
     * The EPS per-chunk overhead k, microseconds: the extra time of running a batch as 8 chunks instead of one
     * (thinner GEMMs re-reading the weights, one more fork/join per projection) per added chunk, plus one
     * hand-off to the communication thread.
     */
    public double epsChunkOverheadUs(LayerWeights w, int hidden, int ffn, int experts, int k, double handOffUs) {
        return epsChunks(w, hidden, ffn, experts, k, handOffUs).overheadUs();
    }

    /** The EPS probe's timings: {@code tokens} routed at once and as {@code chunks} chunks, and the k they imply. */
    public record EpsProbe(int tokens, int chunks, double oneMs, double manyMs, double overheadUs) { }

    /** As {@link #epsChunkOverheadUs}, with the two timings behind it. */
    public EpsProbe epsChunks(LayerWeights w, int hidden, int ffn, int experts, int k, double handOffUs) {
        int T = quick ? 64 : 256, N = 8;
        SplittableRandom r = new SplittableRandom(9);
        int[][] tokenExperts = new int[T][];
        for (int t = 0; t < T; t++) tokenExperts[t] = distinct(experts, k, r);
        Routed whole = group(tokenExperts, 0, T, experts);
        Routed[] parts = new Routed[N];
        for (int i = 0; i < N; i++) parts[i] = group(tokenExperts, T * i / N, T * (i + 1) / N, experts);
        float[] x = randomFloats(T * k * hidden, 10), y = new float[T * k * hidden];
        ExpertKernels kern = new ExpertKernels(hidden, ffn);
        ExpertKernels.Choice c = ExpertKernels.defaultChoice();
        long one = best(reps(), () -> kern.run(w, whole.ids, whole.start, whole.count, whole.n, x, y, pool, c));
        long many = best(reps(), () -> {
            for (Routed p : parts) kern.run(w, p.ids, p.start, p.count, p.n, x, y, pool, c);
        });
        return new EpsProbe(T, N, one / 1e6, many / 1e6, Math.max(1.0, (many - one) / 1e3 / (N - 1)) + handOffUs);
    }

    private record Routed(int[] ids, int[] start, int[] count, int n, int rows) { }

    private static Routed route(int T, int experts, int k, SplittableRandom r) {
        int[][] te = new int[T][];
        for (int t = 0; t < T; t++) te[t] = distinct(experts, k, r);
        return group(te, 0, T, experts);
    }

    private static Routed group(int[][] te, int t0, int t1, int experts) {
        return group(te, t0, t1, 0, experts);
    }

    /** Tokens [t0, t1)'s rows of experts [lo, hi), grouped by expert (ids absolute, starts from 0). */
    private static Routed group(int[][] te, int t0, int t1, int lo, int hi) {
        int[] load = new int[hi];
        for (int t = t0; t < t1; t++) for (int e : te[t]) if (e >= lo && e < hi) load[e]++;
        int n = 0, rows = 0;
        int[] ids = new int[hi - lo], start = new int[hi - lo], count = new int[hi - lo];
        for (int e = lo; e < hi; e++) {
            if (load[e] == 0) continue;
            ids[n] = e;
            start[n] = rows;
            count[n++] = load[e];
            rows += load[e];
        }
        return new Routed(ids, start, count, n, rows);
    }

    private static int[] distinct(int experts, int k, SplittableRandom r) {
        int[] out = new int[Math.min(k, experts)];
        boolean[] used = new boolean[experts];
        for (int i = 0; i < out.length; i++) {
            int e;
            do e = r.nextInt(experts); while (used[e]);
            used[e] = true;
            out[i] = e;
        }
        return out;
    }

    /** {@code n} standard-normal floats from {@code seed}. */
    public static float[] randomFloats(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    /** Frees the probe's off-heap buffers. */
    public void close() {
        arena.close();
    }
}
