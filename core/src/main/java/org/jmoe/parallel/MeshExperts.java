package org.jmoe.parallel;

import org.jmoe.JmoeException;
import org.jmoe.model.ExpertBackend;
import org.jmoe.model.ExpertKernels;
import org.jmoe.model.LayerWeights;
import org.jmoe.model.ModelConfig;
import org.jmoe.moe.Placement;
import org.jmoe.moe.RoutingPlan;
import org.jmoe.tensor.Parallel;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Expert parallelism inside one JVM: the dispatch → compute → combine stages of an MoE layer over a {@link Mesh}.
 *
 * <p><b>Dispatch.</b> Every token→expert computation goes to a device holding the expert: the only holder, or
 * for a replicated expert the holder on the token's home device, else one on its home node, else the holders in
 * turn. Each device gathers the rows it serves (token rows of {@code xb}) into its own buffer, ordered by expert
 * then token. <b>Compute.</b> Each device runs its experts' SwiGLU FFNs as one GEMM per projection over the
 * expert's rows on the device's threads. <b>Combine.</b> Each device writes its output rows back to the plan's
 * compact rows; {@code Forward} sums them per token in routing order. Bytes are counted per hop
 * ({@link TransportStats}: a row leaving and returning to its home device's node or not).
 *
 * <p><b>Schedules.</b> {@code SERIAL}: each device gathers everything, computes, then writes back.
 * {@code EPS} (EPS-MoE): the batch is cut into N contiguous token chunks and each device pipelines them — a
 * communication thread gathers chunk i+1 and writes back chunk i−1 while the device computes chunk i.
 *
 * <p>Every expert row is computed by the same GEMM kernels with the same accumulation order whatever device,
 * schedule or chunk it lands in, so the layer's output is bit-identical to {@code LocalExperts}.
 */
public final class MeshExperts implements ParallelExperts {
    /** How dispatch/combine and compute are ordered. */
    public enum Schedule { SERIAL, EPS }

    private final int hidden;
    private final Mesh mesh;
    private final Placement placement;
    private final Schedule schedule;
    private final ChunkPlanner planner;
    private final TransportStats bytes = new TransportStats();
    private final StageTimes times;
    private final ExecutorService[] comm;
    private final Device[] devs;
    private final ExpertKernels.Choice kernel = ExpertKernels.defaultChoice();

    /** Per-device buffers and this layer's assignment. */
    private static final class Device {
        int[] slots = new int[0];          // slots served, ordered by expert then token
        int[] expStart;                    // [E+1] offsets into slots
        int rows;
        float[] x = new float[0], y = new float[0];
        int[] ids = new int[0], start = new int[0], count = new int[0];
        ExpertKernels kernels;
    }

    public MeshExperts(ModelConfig c, Mesh mesh, Schedule schedule, int chunks) {
        this(c, mesh, schedule, ChunkPlanner.fixed(chunks));
    }

    /** With the EPS chunk count from {@code planner} (fixed, or N* = √(C/k) from measured times). */
    public MeshExperts(ModelConfig c, Mesh mesh, Schedule schedule, ChunkPlanner planner) {
        if (mesh.placement().experts() != c.experts) {
            throw new JmoeException("--devices", "the placement is for " + mesh.placement().experts() + " experts, the model has " + c.experts);
        }
        this.hidden = c.hidden;
        this.mesh = mesh;
        this.placement = mesh.placement();
        this.schedule = schedule;
        this.planner = schedule == Schedule.SERIAL ? ChunkPlanner.fixed(1) : planner;
        this.times = new StageTimes(mesh.devices());
        this.devs = new Device[mesh.devices()];
        this.comm = new ExecutorService[mesh.devices()];
        for (int d = 0; d < devs.length; d++) {
            devs[d] = new Device();
            devs[d].expStart = new int[c.experts + 1];
            devs[d].kernels = new ExpertKernels(c.hidden, c.expertFfn);
            if (schedule == Schedule.EPS) {
                comm[d] = Executors.newSingleThreadExecutor(r -> {
                    Thread t = new Thread(r, "jmoe-device-comm");
                    t.setDaemon(true);
                    return t;
                });
            }
        }
    }

    public TransportStats bytes() { return bytes; }
    public StageTimes times() { return times; }
    public Schedule schedule() { return schedule; }
    @Override
    public int chunks() { return planner.lastBatchChunks(); }
    @Override
    public boolean pipelined() { return schedule == Schedule.EPS; }
    @Override
    public String transport() { return "local"; }

    @Override
    public void compute(int layer, LayerWeights w, RoutingPlan plan, float[] xb, float[] slotOut, Parallel ignored) {
        long t0 = System.nanoTime();
        assign(plan);
        int T = plan.tokens();
        int n = planner.chunks(T);
        long[] comm = new long[devs.length], comp = new long[devs.length];
        mesh.onEveryDevice(d -> {
            long start = System.nanoTime();
            Device dev = devs[d];
            grow(dev);
            if (schedule == Schedule.SERIAL || n == 1) {
                long a = System.nanoTime();
                gather(d, plan, xb, 0, T);
                long b = System.nanoTime();
                computeChunk(d, w, plan, 0, T);
                long c = System.nanoTime();
                scatter(d, plan, slotOut, 0, T);
                long e = System.nanoTime();
                times.add(layer, d, b - a, c - b, e - c, e - start);
                comm[d] = (b - a) + (e - c);
                comp[d] = c - b;
            } else {
                long[] cc = pipeline(layer, d, w, plan, xb, slotOut, n, T, start);
                comm[d] = cc[0];
                comp[d] = cc[1];
            }
        });
        times.addLayer(layer, System.nanoTime() - t0);
        long maxComm = 0, maxComp = 0;
        for (int d = 0; d < devs.length; d++) { maxComm = Math.max(maxComm, comm[d]); maxComp = Math.max(maxComp, comp[d]); }
        planner.observe(T, maxComm, maxComp);
    }

    /** EPS: gather(i+1) and scatter(i−1) on the device's communication thread while chunk i computes. */
    private long[] pipeline(int layer, int d, LayerWeights w, RoutingPlan plan, float[] xb, float[] slotOut, int n, int T, long start) {
        long[] comms = new long[2];
        Future<?> next = comm[d].submit(() -> timed(comms, 0, () -> gather(d, plan, xb, 0, T / n)));
        long compute = 0;
        for (int i = 0; i < n; i++) {
            int c0 = (int) ((long) T * i / n), c1 = (int) ((long) T * (i + 1) / n);
            await(next);
            if (i + 1 < n) {
                int n0 = c1, n1 = (int) ((long) T * (i + 2) / n);
                next = comm[d].submit(() -> timed(comms, 0, () -> gather(d, plan, xb, n0, n1)));
            }
            long a = System.nanoTime();
            computeChunk(d, w, plan, c0, c1);
            compute += System.nanoTime() - a;
            final int s0 = c0, s1 = c1;
            Future<?> s = comm[d].submit(() -> timed(comms, 1, () -> scatter(d, plan, slotOut, s0, s1)));
            if (i == n - 1) await(s);
        }
        times.add(layer, d, comms[0], compute, comms[1], System.nanoTime() - start);
        return new long[]{comms[0] + comms[1], compute};
    }

    private static void timed(long[] acc, int i, Runnable r) {
        long a = System.nanoTime();
        r.run();
        acc[i] += System.nanoTime() - a;
    }

    private static void await(Future<?> f) {
        try {
            f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            throw c instanceof RuntimeException re ? re : new IllegalStateException(c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Which device serves each slot; fills every device's slot list ordered by expert then token. */
    private void assign(RoutingPlan plan) {
        int E = plan.experts();
        for (Device dev : devs) {
            java.util.Arrays.fill(dev.expStart, 0);
            dev.rows = 0;
        }
        int total = plan.assignments();
        for (Device dev : devs) if (dev.slots.length < total) dev.slots = new int[Math.max(total, dev.slots.length * 3 / 2)];
        int T = plan.tokens();
        for (int e = 0; e < E; e++) {
            int[] h = holders(e);
            for (Device dev : devs) dev.expStart[e] = dev.rows;
            for (int i = 0; i < plan.load(e); i++) {
                int slot = plan.slotOf(e, i);
                int d = h.length == 1 ? h[0] : pick(h, slot / plan.maxK(), T, i);
                devs[d].slots[devs[d].rows++] = slot;
            }
        }
        for (Device dev : devs) dev.expStart[E] = dev.rows;
    }

    private int[][] holderCache;

    private int[] holders(int e) {
        if (holderCache == null) {
            holderCache = new int[placement.experts()][];
            for (int x = 0; x < holderCache.length; x++) holderCache[x] = placement.devicesOf(x);
        }
        return holderCache[e];
    }

    /** A replica for token t: one on its home device, else on its home node, else the holders in turn. */
    private int pick(int[] h, int t, int T, int i) {
        int home = placement.homeDevice(t, T), node = placement.nodeOfDevice(home);
        for (int d : h) if (d == home) return d;
        for (int d : h) if (placement.nodeOfDevice(d) == node) return d;
        return h[i % h.length];
    }

    private void grow(Device dev) {
        int n = dev.rows;
        if (dev.x.length < n * hidden) {
            dev.x = new float[n * hidden];
            dev.y = new float[n * hidden];
        }
    }

    /** Copies the rows of tokens [t0, t1) that device d serves into its buffer (the dispatch). */
    private void gather(int d, RoutingPlan plan, float[] xb, int t0, int t1) {
        Device dev = devs[d];
        int H = hidden, T = plan.tokens(), mk = plan.maxK();
        long row = 4L * H;
        for (int r = 0; r < dev.rows; r++) {
            int t = dev.slots[r] / mk;
            if (t < t0 || t >= t1) continue;
            System.arraycopy(xb, t * H, dev.x, r * H, H);
            int home = placement.homeDevice(t, T);
            bytes.add(home == d, placement.nodeOfDevice(home) == placement.nodeOfDevice(d), row);
        }
    }

    /** Writes device d's output rows of tokens [t0, t1) to the plan's compact rows (the combine). */
    private void scatter(int d, RoutingPlan plan, float[] slotOut, int t0, int t1) {
        Device dev = devs[d];
        int H = hidden, T = plan.tokens(), mk = plan.maxK();
        long row = 4L * H;
        for (int r = 0; r < dev.rows; r++) {
            int slot = dev.slots[r], t = slot / mk;
            if (t < t0 || t >= t1) continue;
            System.arraycopy(dev.y, r * H, slotOut, plan.rowOfSlot(slot) * H, H);
            int home = placement.homeDevice(t, T);
            bytes.add(home == d, placement.nodeOfDevice(home) == placement.nodeOfDevice(d), row);
        }
    }

    /** Runs device d's experts over their rows whose tokens are in [t0, t1) (contiguous per expert). */
    private void computeChunk(int d, LayerWeights w, RoutingPlan plan, int t0, int t1) {
        Device dev = devs[d];
        int mk = plan.maxK(), m = 0, E = dev.expStart.length - 1;
        if (dev.ids.length < E) { dev.ids = new int[E]; dev.start = new int[E]; dev.count = new int[E]; }
        for (int e = 0; e < E; e++) {
            int a = dev.expStart[e], b = dev.expStart[e + 1];
            while (a < b && dev.slots[a] / mk < t0) a++;
            int z = a;
            while (z < b && dev.slots[z] / mk < t1) z++;
            if (z == a) continue;
            dev.ids[m] = e;
            dev.start[m] = a;
            dev.count[m++] = z - a;
        }
        dev.kernels.run(w, dev.ids, dev.start, dev.count, m, dev.x, dev.y, mesh.pool(d), kernel);
    }

    @Override
    public void close() {
        for (ExecutorService c : comm) if (c != null) c.shutdownNow();
    }
}
