package org.jmoe.train;

import org.jmoe.moe.Placement;

/**
 * What a step's routing did on the simulated mesh: the Imbalance Score {@code IS = (max_i T_i − min_i T_i) / n}
 * (T_i the token→expert computations landing on device i, n the rows; PAPERS.md §1) and the fraction of
 * computations whose expert sits on another node than the row's home node, both averaged over the layers.
 */
public record RoutingMetrics(double imbalance, double crossNodeFraction, double dropFraction) {
    public static RoutingMetrics of(MoeTransformer m, Placement mesh, int[] home) {
        int L = m.config().layers();
        double is = 0, cross = 0, drops = 0;
        for (int l = 0; l < L; l++) {
            Routing r = m.routing(l);
            long[] dev = new long[mesh.devices()];
            long remote = 0, total = 0;
            for (int i = 0; i < r.n * r.k; i++) {
                int e = r.expert[i];
                if (e < 0) continue;
                dev[mesh.device(e)]++;
                total++;
                if (mesh.nodeOfExpert(e) != home[i / r.k]) remote++;
            }
            long max = Long.MIN_VALUE, min = Long.MAX_VALUE;
            for (long d : dev) {
                max = Math.max(max, d);
                min = Math.min(min, d);
            }
            is += (double) (max - min) / r.n;
            cross += total == 0 ? 0 : (double) remote / total;
            drops += 1 - (double) total / ((long) r.n * r.k);
        }
        return new RoutingMetrics(is / L, cross / L, drops / L);
    }

    /** Each row's home node: rows are sharded over the devices in contiguous blocks ({@link Placement#homeNode}). */
    public static int[] homes(Placement mesh, int n) {
        int[] h = new int[n];
        for (int t = 0; t < n; t++) h[t] = mesh.homeNode(t, n);
        return h;
    }
}
