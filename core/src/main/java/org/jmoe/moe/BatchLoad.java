package org.jmoe.moe;

/**
 * What one layer's routing of one batch does to the mesh: token→expert computations per expert, device and
 * node, MoGE's Imbalance Score over devices, max/mean, the coefficient of variation over experts, the k
 * histogram, dropped assignments, and the bytes the dispatch and combine would move (docs/TRACE.md).
 *
 * @param imbalanceScore {@code (max_d T_d − min_d T_d) / tokens}
 * @param maxOverMean    {@code max_d T_d / mean_d T_d} (1 when balanced; 0 when nothing was routed)
 * @param cv             standard deviation / mean of the per-expert counts
 * @param kHistogram     tokens that got k = 0..maxK experts
 */
public record BatchLoad(int layer, int tokens, long assignments, long[] expertTokens, long[] deviceTokens, long[] nodeTokens,
                        double imbalanceScore, double maxOverMean, double cv, long[] kHistogram, long dropped,
                        long crossDeviceBytes, long crossNodeBytes) {

    /** Measures {@code plan} on {@code placement}; one row (dispatch or combine) is {@code rowBytes} bytes. */
    public static BatchLoad of(int layer, RoutingPlan plan, Placement placement, long rowBytes) {
        int E = plan.experts(), T = plan.tokens();
        if (placement.experts() != E) throw new IllegalArgumentException("placement is for " + placement.experts() + " experts, the plan has " + E);
        long[] ex = new long[E];
        long[] dev = new long[placement.devices()];
        long[] node = new long[placement.nodes()];
        long[] kh = new long[plan.maxK() + 1];
        long assignments = 0, crossDev = 0, crossNode = 0;
        for (int t = 0; t < T; t++) {
            int home = placement.homeDevice(t, T), homeNode = placement.nodeOfDevice(home);
            int k = plan.k(t);
            kh[k]++;
            for (int s = 0; s < k; s++) {
                int e = plan.expert(t, s);
                int d = placement.device(e);
                ex[e]++;
                dev[d]++;
                node[placement.nodeOfDevice(d)]++;
                assignments++;
                if (d != home) {
                    crossDev += 2 * rowBytes;
                    if (placement.nodeOfDevice(d) != homeNode) crossNode += 2 * rowBytes;
                }
            }
        }
        return new BatchLoad(layer, T, assignments, ex, dev, node, imbalance(dev, T), maxOverMean(dev), cv(ex), kh,
                plan.dropped(), crossDev, crossNode);
    }

    /** {@code (max − min) / tokens}, 0 for an empty batch. */
    public static double imbalance(long[] perDevice, long tokens) {
        if (tokens == 0 || perDevice.length == 0) return 0;
        long max = Long.MIN_VALUE, min = Long.MAX_VALUE;
        for (long v : perDevice) { max = Math.max(max, v); min = Math.min(min, v); }
        return (double) (max - min) / tokens;
    }

    public static double maxOverMean(long[] v) {
        long sum = 0, max = 0;
        for (long x : v) { sum += x; max = Math.max(max, x); }
        return sum == 0 ? 0 : max / ((double) sum / v.length);
    }

    public static double cv(long[] v) {
        if (v.length == 0) return 0;
        double mean = 0;
        for (long x : v) mean += x;
        mean /= v.length;
        if (mean == 0) return 0;
        double var = 0;
        for (long x : v) var += (x - mean) * (x - mean);
        return Math.sqrt(var / v.length) / mean;
    }

    /** Mean experts per token. */
    public double meanK() { return tokens == 0 ? 0 : (double) assignments / tokens; }
}
