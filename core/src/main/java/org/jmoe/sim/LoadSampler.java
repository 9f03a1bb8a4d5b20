package org.jmoe.sim;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Expert loads of one expert-parallel replica, per layer and batch size: sampled through the router's rule
 * ({@link RouterModel}) from a {@link Popularity}, or replayed from a trace ({@link TraceLoads}).
 *
 * <p>Sampling: up to {@value #EXACT} tokens are routed one by one (homes in contiguous shards over the replica's
 * devices, as docs/TRACE.md defines them). A larger batch is routed through a {@value #EXACT}-token sample, whose rows
 * per token per expert (π_e) and level shares stand for the batch; each expert's count is then drawn as
 * Normal(Tπ_e, Tπ_e(1−π_e)) — the sum of T independent per-token Bernoulli(π_e) choices — and rescaled so that the
 * total (for MoGE and balanced Ada-K: each group's total) equals what the rule fixes exactly. Capacity then clips
 * each expert; LocMoE moves overflow to experts with room on the same node, the rest is dropped.
 *
 * <p>Replay: each expert gets T times its share of the trace layer's rows, no noise, apportioned so that the rows add
 * up to T times the trace's mean k (layer l replays trace layer l mod the trace's layer count). A batch with fewer
 * rows than the layer has experts (a decode step) would round every share to nothing: its tokens are drawn one by
 * one instead, each taking the trace's mean k distinct experts with probabilities in proportion to their shares.
 */
public final class LoadSampler {
    static final int EXACT = 4096;
    static final int PI_SAMPLE = 65536;
    private static final Map<String, double[]> PI_CACHE = new java.util.concurrent.ConcurrentHashMap<>();

    private final RouterModel router;
    private final Popularity popularity;
    private final TraceLoads trace;
    private final int experts;
    private final int[][] expertDevices;
    private final int[] expertNode, homes;
    private final Hardware hw;
    private final long seed;
    /** Loads are deterministic in (configuration, batch, layer): cached across simulations (the planner asks often). */
    private static final Map<String, LayerLoad> CACHE = new java.util.concurrent.ConcurrentHashMap<>();
    private final String key;

    /**
     * @param expertDevices the devices of each expert's rank (its tensor-parallel group; every one gets the row)
     * @param homes         the replica's devices, where its tokens live
     */
    public LoadSampler(RouterModel router, Popularity popularity, TraceLoads trace, int[][] expertDevices, int[] homes, Hardware hw, long seed) {
        this.router = router;
        this.popularity = popularity;
        this.trace = trace;
        this.experts = expertDevices.length;
        this.expertDevices = expertDevices.clone();
        this.homes = homes.clone();
        this.hw = hw;
        this.seed = seed;
        this.expertNode = new int[experts];
        for (int e = 0; e < experts; e++) expertNode[e] = expertDevices[e][0] / hw.devicesPerNode();
        StringBuilder k = new StringBuilder(router.text()).append('|').append(popularity.text()).append('|').append(seed)
                .append('|').append(trace == null ? "-" : trace.file() + "@" + System.identityHashCode(trace)).append('|').append(hw.name())
                .append('|').append(hw.devicesPerNode()).append('|').append(hw.devicesPerGroup()).append('|').append(java.util.Arrays.toString(homes));
        for (int[] d : expertDevices) k.append(java.util.Arrays.toString(d));
        this.key = k.toString();
    }

    /** The load of MoE layer {@code layer} for a batch of {@code tokens} (cached). */
    public LayerLoad layer(long tokens, int layer) {
        return layer(tokens, layer, 0);
    }

    /**
     * Draw {@code draw} of that load: the same layer (popularity, recorded shares) with other tokens' choices; draw 0
     * is {@link #layer(long, int)}. Only a load that {@link #random(long, int)} says is random varies between draws.
     */
    public LayerLoad layer(long tokens, int layer, int draw) {
        String k = key + "|" + tokens + "|" + layer + "|" + draw;
        LayerLoad l = CACHE.get(k);
        if (l == null) {
            l = compute(tokens, layer, draw);
            if (CACHE.size() > 50_000) CACHE.clear();
            CACHE.put(k, l);
        }
        return l;
    }

    /**
     * Whether a batch of {@code tokens} gets a load that depends on random draws: routed token by token (sampled, up
     * to {@value #EXACT} tokens) or drawn from a trace's shares (replayed, fewer rows than experts); a larger replayed
     * batch gets the recorded shares exactly.
     */
    public boolean random(long tokens, int layer) {
        if (tokens <= 0) return false;
        if (trace == null) return tokens <= EXACT;
        double total = 0;
        for (double v : trace.expertShare(layer)) total += v;
        return tokens * total < experts;
    }

    /** A draw's seed for a token-by-token load: draw 0 keeps the layer's own. */
    private static long drawSeed(long base, int draw) {
        return draw == 0 ? base : mix(base, draw, 0x7f4a7c15L);
    }

    private LayerLoad compute(long tokens, int layer, int draw) {
        if (tokens == -EXACT) return route(EXACT, layer, mix(seed, layer, -1)); // the sample standing for large batches
        if (tokens <= 0) return new LayerLoad(0, new long[experts], 0, 0, new double[Level.values().length]);
        if (trace != null) return replay(tokens, layer, draw);
        if (tokens <= EXACT) return clip(route((int) tokens, layer, drawSeed(mix(seed, layer, tokens), draw)));
        LayerLoad s = layer(-(long) EXACT, layer);
        SplittableRandom r = new SplittableRandom(mix(seed, layer, tokens));
        double[] pi = rowsPerToken(s, layer);
        double[] c = new double[experts];
        for (int e = 0; e < experts; e++) {
            double mean = tokens * pi[e], sd = Math.sqrt(tokens * pi[e] * Math.max(0, 1 - pi[e]));
            c[e] = Math.max(0, mean + sd * gaussian(r));
        }
        int groups = router.groups(), size = experts / groups;
        long[] rows = new long[experts];
        for (int g = 0; g < groups; g++) {
            double want = 0;
            for (int e = g * size; e < (g + 1) * size; e++) want += tokens * pi[e];
            apportion(c, g * size, (g + 1) * size, Math.round(want), rows);
        }
        return clip(new LayerLoad(tokens, rows, 0, s.meanK(), s.levelShare()));
    }

    /**
     * Rows per token of each expert (π_e) for a large batch. Under uniform popularity (or hashing) every rule here
     * treats the experts alike, so π_e is the sample's mean k / E exactly; otherwise it is estimated from
     * {@value #PI_SAMPLE} routed tokens (computed once per configuration and layer, shared by every batch size), so
     * that the estimate's own noise (≈ 1/√(PI_SAMPLE·π_e)) stays small next to the batch's.
     */
    private double[] rowsPerToken(LayerLoad s, int layer) {
        double[] pi = new double[experts];
        if (popularity.zipfS() == 0 || !router.usesScores()) {
            java.util.Arrays.fill(pi, s.meanK() / experts);
            return pi;
        }
        String k = key + "|pi|" + layer;
        double[] cached = PI_CACHE.get(k);
        if (cached == null) {
            LayerLoad big = route(PI_SAMPLE, layer, mix(seed, layer, -2));
            cached = new double[experts];
            for (int e = 0; e < experts; e++) cached[e] = (double) big.expertRows()[e] / PI_SAMPLE;
            if (PI_CACHE.size() > 10_000) PI_CACHE.clear();
            PI_CACHE.put(k, cached);
        }
        return cached.clone();
    }

    /** Routes {@code n} tokens one by one. */
    private LayerLoad route(int n, int layer, long rs) {
        SplittableRandom r = new SplittableRandom(rs);
        double[] logp = new double[experts];
        double[] p = popularity.probabilities(experts, mix(seed, layer, -7));
        for (int e = 0; e < experts; e++) logp[e] = Math.log(p[e]);
        double[] u = new double[experts];
        int[] out = new int[experts];
        long[] rows = new long[experts];
        double[] level = new double[Level.values().length];
        long assigned = 0;
        int H = homes.length;
        boolean uniform = popularity.zipfS() == 0;
        for (int t = 0; t < n; t++) {
            int home = homes[(int) ((long) t * H / n)];
            int k;
            if (uniform && router.uniformShortcut()) {
                k = router.selectUniform(out, r);
            } else {
                if (router.usesScores()) for (int e = 0; e < experts; e++) u[e] = logp[e] - Math.log(-Math.log(1 - r.nextDouble()));
                k = router.select(u, expertNode, home / hw.devicesPerNode(), out, r);
            }
            for (int i = 0; i < k; i++) {
                rows[out[i]]++;
                int[] to = expertDevices[out[i]];
                for (int d : to) level[hw.level(home, d).ordinal()] += 1.0 / to.length;
            }
            assigned += k;
        }
        for (int l = 0; l < level.length; l++) level[l] = assigned == 0 ? 0 : level[l] / assigned;
        return new LayerLoad(n, rows, 0, (double) assigned / n, level);
    }

    private LayerLoad replay(long tokens, int layer, int draw) {
        double[] share = trace.expertShare(layer);
        if (share.length != experts) throw new IllegalStateException("trace experts " + share.length + " != " + experts);
        long[] rows = new long[experts];
        double[] level = new double[Level.values().length];
        double total = 0;
        for (int e = 0; e < experts; e++) {
            total += share[e];
            int[] to = expertDevices[e];
            for (int h : homes) for (int d : to) level[hw.level(h, d).ordinal()] += share[e] / homes.length / to.length;
        }
        if (tokens * total < experts) {
            int k = (int) Math.max(1, Math.min(experts, Math.round(total)));
            SplittableRandom r = new SplittableRandom(drawSeed(mix(seed, layer, tokens) ^ 0x5eed7ace, draw));
            double[] u = new double[experts];
            int[] order = new int[experts];
            for (long t = 0; t < tokens; t++) {
                // Gumbel top-k over log shares: k distinct experts, each drawn in proportion to its share
                for (int e = 0; e < experts; e++) {
                    u[e] = share[e] > 0 ? Math.log(share[e]) - Math.log(-Math.log(1 - r.nextDouble())) : Double.NEGATIVE_INFINITY;
                    order[e] = e;
                }
                for (int i = 0; i < k; i++) {
                    int best = i;
                    for (int j = i + 1; j < experts; j++) if (u[order[j]] > u[order[best]]) best = j;
                    int tmp = order[i]; order[i] = order[best]; order[best] = tmp;
                    if (u[order[i]] == Double.NEGATIVE_INFINITY) break;
                    rows[order[i]]++;
                }
            }
        } else {
            double[] expected = new double[experts];
            for (int e = 0; e < experts; e++) expected[e] = tokens * share[e];
            apportion(expected, 0, experts, Math.round(tokens * total), rows);
        }
        for (int l = 0; l < level.length; l++) level[l] = total == 0 ? 0 : level[l] / total;
        return new LayerLoad(tokens, rows, trace.dropped(layer, tokens), total, level);
    }

    /** Applies the router's capacity. */
    private LayerLoad clip(LayerLoad in) {
        long cap = router.capacity(in.tokens());
        if (cap == Long.MAX_VALUE) return in;
        long[] rows = in.expertRows().clone();
        long dropped = in.dropped();
        boolean moveLocal = router.kind() == RouterModel.Kind.LOCMOE;
        Map<Integer, long[]> nodeOverflow = new HashMap<>();
        for (int e = 0; e < experts; e++) {
            if (rows[e] > cap) {
                long over = rows[e] - cap;
                rows[e] = cap;
                if (moveLocal) nodeOverflow.computeIfAbsent(expertNode[e], x -> new long[1])[0] += over;
                else dropped += over;
            }
        }
        for (var en : nodeOverflow.entrySet()) {
            long left = en.getValue()[0];
            for (int e = 0; e < experts && left > 0; e++) {
                if (expertNode[e] != en.getKey() || rows[e] >= cap) continue;
                long take = Math.min(left, cap - rows[e]);
                rows[e] += take;
                left -= take;
            }
            dropped += left;
        }
        return new LayerLoad(in.tokens(), rows, dropped, in.meanK(), in.levelShare());
    }

    /** Integer rows for c[from..to) summing exactly to {@code target}: scaled, floored, the rest by largest remainder. */
    static void apportion(double[] c, int from, int to, long target, long[] rows) {
        double got = 0;
        for (int e = from; e < to; e++) got += c[e];
        double f = got > 0 ? target / got : 0;
        long sum = 0;
        Integer[] order = new Integer[to - from];
        double[] frac = new double[c.length];
        for (int e = from; e < to; e++) {
            double v = c[e] * f;
            rows[e] = (long) Math.floor(v);
            frac[e] = v - rows[e];
            sum += rows[e];
            order[e - from] = e;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(frac[b], frac[a]));
        for (int i = 0; sum < target && got > 0; i = (i + 1) % order.length, sum++) rows[order[i]]++;
    }

    private static double gaussian(SplittableRandom r) {
        double u1 = 1 - r.nextDouble(), u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    static long mix(long seed, int layer, long tokens) {
        long z = seed * 0x9E3779B97F4A7C15L + layer * 0xBF58476D1CE4E5B9L + tokens * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
