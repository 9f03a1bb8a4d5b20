package org.jmoe.cluster;

import org.jmoe.JmoeException;
import org.jmoe.model.ExpertKernels;
import org.jmoe.model.LayerWeights;
import org.jmoe.model.ModelConfig;
import org.jmoe.moe.Placement;
import org.jmoe.moe.RoutingPlan;
import org.jmoe.tensor.Parallel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The model's expert layer run on worker JVMs as {@code --local-workers D} runs it: D workers started with the model
 * (each serving a contiguous share of the experts, as the contiguous placement gives them, on its share of the
 * cores), fed by this process through {@link RemoteExperts} on the serial schedule, for batches of random top-k
 * routing (one token, as a decode step's layer, up to a prefill's). Per batch: the layer's wall time in this process
 * and each worker's own compute time (what it reports), so that both the workers' compute rate beside the transfers
 * (the coordinator encoding and decoding on the same cores) and what a layer takes beyond the busiest worker's
 * compute (encoding, the wire, decoding, scattering the answers, the waits between) are measured on the engine's own
 * path. The simulator's {@code local-cpu:workers=D} takes its workers' efficiency and the coordinator link's latency
 * and bandwidth from these points (docs/CALIBRATION.md).
 */
public final class WorkerLayerProbe {
    /**
     * One batch.
     *
     * @param tokens     tokens of the batch (top-k distinct random experts each)
     * @param wallMs     the layer in this process, mean round
     * @param computeMs  each worker's compute, as it reported it, mean round
     * @param beyondMs   what a round took beyond its busiest worker's compute, mean round (the means of the parts:
     *                   a round's compute and its transfers vary apart). Means, not medians: the simulator predicts
     *                   throughput, a sum of rounds, and a round's time beyond compute is skewed (a few slow wake-ups
     *                   and hand-offs; its mean ran 0.3–0.7 ms above its median at one token)
     * @param workerRows per worker, the rows of each of its experts (in expert order); of the first routing, for a
     *                   batch of a few tokens timed over several
     */
    public record Point(int tokens, double wallMs, double[] computeMs, double beyondMs, int[][] workerRows) {
        public int workers() { return computeMs.length; }

        /** The busiest worker's compute. */
        public double maxComputeMs() { return Arrays.stream(computeMs).max().orElse(0); }

        /** Rows sent out (and as many back) in the layer. */
        public long rows() {
            long n = 0;
            for (int[] w : workerRows) for (int v : w) n += v;
            return n;
        }
    }

    /** Batches of at most this many tokens are timed over {@link #DECODE_PLANS} routings (a decode step's layer). */
    static final int FEW_TOKENS = 8;
    /** Routings of a few-token batch, run in turn. */
    static final int DECODE_PLANS = 16;

    private WorkerLayerProbe() {}

    /**
     * Starts {@code workers} worker JVMs on {@code model}, runs layer {@code layer} ({@code w}, of config {@code c}) at
     * each batch size of {@code sizes}, and stops them. The experts must split evenly over the workers.
     */
    public static List<Point> measure(Path model, ModelConfig c, int layer, LayerWeights w, int workers, int[] sizes, boolean quick) {
        return measure(model, c, layer, w, workers, sizes, quick, null);
    }

    /**
     * As above; then, the workers still up, {@code besides} runs with them as an expert backend (the calibration times
     * a prefill's attention blocks in this process while the workers hold the experts).
     */
    public static List<Point> measure(Path model, ModelConfig c, int layer, LayerWeights w, int workers, int[] sizes, boolean quick,
                                      java.util.function.Consumer<org.jmoe.parallel.ParallelExperts> besides) {
        int E = c.experts, k = Math.max(1, c.expertsUsed), H = c.hidden;
        if (workers < 1 || E % workers != 0) throw new IllegalArgumentException(E + " experts do not split over " + workers + " workers");
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / workers);
        Placement p = Placement.contiguous(E, workers, 1);
        List<String> lists = new ArrayList<>();
        for (int d = 0; d < workers; d++) lists.add(d * E / workers + "-" + ((d + 1) * E / workers - 1));
        int maxT = Arrays.stream(sizes).max().orElse(1);
        float[] xb = new float[maxT * H];
        SplittableRandom rnd = new SplittableRandom(17);
        for (int i = 0; i < xb.length; i++) xb[i] = (float) rnd.nextGaussian();
        float[] slotOut = new float[maxT * k * H];
        // per batch size, its routings: one for a batch; DECODE_PLANS for a few tokens, whose layer time depends on how
        // their rows split between the workers (one worker's answer decoded while the other computes, or both at the
        // end), as a decode step's does from step to step
        RoutingPlan[][] plans = new RoutingPlan[sizes.length][];
        SplittableRandom r = new SplittableRandom(13);
        for (int i = 0; i < sizes.length; i++) {
            plans[i] = new RoutingPlan[sizes[i] <= FEW_TOKENS ? DECODE_PLANS : 1];
            for (int q = 0; q < plans[i].length; q++) plans[i][q] = plan(sizes[i], E, k, r);
        }
        String kernel = ExpertKernels.defaultChoice().name().toLowerCase(java.util.Locale.ROOT);
        try (LocalWorkers lw = new LocalWorkers(model, lists, threads, 120_000, kernel);
             RemoteExperts re = RemoteExperts.connect(c, p, lw.addresses(), 1, 120_000)) {
            Parallel pool = Parallel.global();
            // the transport's code and the workers' kernels compiled first, as bench-ep warms up before it measures
            long rowsPerWorker = (long) maxT * k / workers;
            re.warmUp(quick ? 1_000 : 6_000, (int) Math.min(8L << 20, Math.max(4096, rowsPerWorker * H * 4)));
            long warmEnd = System.nanoTime() + (quick ? 1_000_000_000L : 4_000_000_000L);
            for (int i = 0; System.nanoTime() < warmEnd || i < sizes.length; i++) {
                RoutingPlan[] ps = plans[i % sizes.length];
                re.compute(layer, w, ps[(i / sizes.length) % ps.length], xb, slotOut, pool);
            }
            List<Point> out = new ArrayList<>();
            for (int i = 0; i < sizes.length; i++) {
                // a few tokens (a decode step's layer: milliseconds, the messages' fixed cost) vary most: more rounds,
                // over all their routings in turn
                int reps = sizes[i] <= FEW_TOKENS ? (quick ? 2 : 6) * DECODE_PLANS : (quick ? 3 : 11);
                double[] wall = new double[reps], beyond = new double[reps];
                double[][] comp = new double[workers][reps];
                for (int rep = 0; rep < reps; rep++) {
                    re.times().reset();
                    long t0 = System.nanoTime();
                    re.compute(layer, w, plans[i][rep % plans[i].length], xb, slotOut, pool);
                    wall[rep] = (System.nanoTime() - t0) / 1e6;
                    double busiest = 0;
                    for (int d = 0; d < workers; d++) busiest = Math.max(busiest, comp[d][rep] = re.times().computeNanos(d) / 1e6);
                    beyond[rep] = Math.max(0, wall[rep] - busiest);
                }
                double[] compute = new double[workers];
                for (int d = 0; d < workers; d++) compute[d] = mean(comp[d]);
                int[][] rows = new int[workers][E / workers];
                for (int e = 0; e < E; e++) rows[p.device(e)][e - p.device(e) * (E / workers)] = plans[i][0].load(e);
                out.add(new Point(sizes[i], mean(wall), compute, mean(beyond), rows));
            }
            if (besides != null) besides.accept(re);
            return out;
        } catch (JmoeException e) {
            throw new JmoeException("calibrate", "the worker layer probe failed: " + e.getMessage());
        }
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return s / v.length;
    }

    /** {@code T} tokens, each routed to {@code k} distinct random experts with equal weights. */
    static RoutingPlan plan(int T, int E, int k, SplittableRandom r) {
        RoutingPlan plan = new RoutingPlan().reset(T, E, k);
        for (int t = 0; t < T; t++) {
            boolean[] used = new boolean[E];
            for (int s = 0; s < Math.min(k, E); s++) {
                int e;
                do e = r.nextInt(E); while (used[e]);
                used[e] = true;
                plan.add(t, e, 1f / k);
            }
        }
        plan.build();
        return plan;
    }
}
