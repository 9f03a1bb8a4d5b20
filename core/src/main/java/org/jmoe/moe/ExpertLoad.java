package org.jmoe.moe;

/**
 * Token→expert counts per layer, accumulated from {@link RoutingPlan}s, with the per-group (device) view and
 * MoGE's Imbalance Score {@code IS = (max_i T_i − min_i T_i) / |X|} over contiguous groups of experts.
 */
public final class ExpertLoad {
    private final long[][] counts;
    private final long[] tokens;

    public ExpertLoad(int layers, int experts) {
        counts = new long[layers][experts];
        tokens = new long[layers];
    }

    /** Adds one batch's routing decision of {@code layer}. */
    public void add(int layer, RoutingPlan plan) {
        for (int e = 0; e < plan.experts(); e++) counts[layer][e] += plan.load(e);
        tokens[layer] += plan.tokens();
    }

    public int layers() { return counts.length; }

    public int experts() { return counts.length == 0 ? 0 : counts[0].length; }

    /** Token→expert computations of expert {@code e} in {@code layer}. */
    public long count(int layer, int e) { return counts[layer][e]; }

    /** Tokens routed through {@code layer}. */
    public long tokens(int layer) { return tokens[layer]; }

    /** Computations per group when the experts are split into {@code groups} contiguous groups. */
    public long[] perGroup(int layer, int groups) {
        int E = experts();
        if (groups < 1 || E % groups != 0) throw new IllegalArgumentException(E + " experts do not split into " + groups + " groups");
        long[] g = new long[groups];
        for (int e = 0; e < E; e++) g[e / (E / groups)] += counts[layer][e];
        return g;
    }

    /** {@code (max_i T_i − min_i T_i) / |X|} over {@code groups} contiguous expert groups. */
    public double imbalanceScore(int layer, int groups) {
        long[] g = perGroup(layer, groups);
        long max = Long.MIN_VALUE, min = Long.MAX_VALUE;
        for (long v : g) { max = Math.max(max, v); min = Math.min(min, v); }
        return tokens[layer] == 0 ? 0 : (double) (max - min) / tokens[layer];
    }
}
