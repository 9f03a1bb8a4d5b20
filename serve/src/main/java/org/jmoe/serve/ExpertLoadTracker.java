package org.jmoe.serve;

import org.jmoe.moe.BatchLoad;
import org.jmoe.moe.Placement;
import org.jmoe.moe.RoutingPlan;

/**
 * Expert load per MoE layer as the routing plans of the running batches report it: tokens per expert summed
 * since start, and a recent window (exponentially decayed per step, so the last ~10 steps dominate) from which
 * the gauges and the dashboard read the load per expert, per device of the mesh, and the imbalance.
 */
final class ExpertLoadTracker {
    private static final double DECAY = 0.9;
    private final int layers, experts;
    private final Placement placement;
    private final long[][] total;
    private final double[][] recent;
    private final double[] recentTokens;

    ExpertLoadTracker(int layers, int experts, Placement placement) {
        this.layers = layers;
        this.experts = experts;
        this.placement = placement;
        this.total = new long[layers][experts];
        this.recent = new double[layers][experts];
        this.recentTokens = new double[layers];
    }

    int layers() { return layers; }
    int experts() { return experts; }
    int devices() { return placement == null ? 1 : placement.devices(); }

    /** Records one layer's plan of one step (called on the scheduler thread). */
    synchronized void onLayer(int layer, RoutingPlan plan) {
        double[] r = recent[layer];
        for (int e = 0; e < experts; e++) {
            int n = plan.load(e);
            total[layer][e] += n;
            r[e] = r[e] * DECAY + n;
        }
        recentTokens[layer] = recentTokens[layer] * DECAY + plan.tokens();
    }

    /** Recent-window load of one expert (tokens per step, decayed). */
    synchronized double load(int layer, int expert) { return recent[layer][expert] * (1 - DECAY); }

    /** Tokens routed to an expert since start. */
    synchronized long total(int layer, int expert) { return total[layer][expert]; }

    /** Recent-window load per device (experts summed by their home device). */
    synchronized double[] deviceLoad(int layer) {
        double[] d = new double[devices()];
        for (int e = 0; e < experts; e++) d[placement == null ? 0 : placement.device(e)] += recent[layer][e] * (1 - DECAY);
        return d;
    }

    /** Max over mean of the recent expert loads of a layer (1 = perfectly even; 0 before any token). */
    synchronized double expertImbalance(int layer) {
        long[] v = new long[experts];
        for (int e = 0; e < experts; e++) v[e] = Math.round(recent[layer][e] * 1000);
        return BatchLoad.maxOverMean(v);
    }

    /** The project's imbalance score over devices, (max − min) / tokens, of the recent window. */
    synchronized double imbalanceScore(int layer) {
        double[] d = deviceLoad(layer);
        double tokens = recentTokens[layer] * (1 - DECAY);
        if (tokens <= 0) return 0;
        double max = Double.NEGATIVE_INFINITY, min = Double.POSITIVE_INFINITY;
        for (double x : d) { max = Math.max(max, x); min = Math.min(min, x); }
        return (max - min) / tokens;
    }
}
