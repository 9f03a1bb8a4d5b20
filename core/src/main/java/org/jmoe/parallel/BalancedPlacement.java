package org.jmoe.parallel;

import org.jmoe.JmoeException;
import org.jmoe.moe.Placement;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A load-aware placement in the manner of vLLM's EPLB: given recorded token counts per expert, give each device
 * {@code slots} expert slots ({@code slots · D >= E}), fill the {@code slots · D − E} spare slots with replicas of
 * the hottest experts (each time the expert whose per-replica load is largest gets one more replica), then pack
 * the replicas onto devices largest load first, each to the least-loaded device with a free slot that does not
 * already hold that expert (a replica that finds none is dropped). A replica's load is its expert's load divided
 * by its replica count.
 */
public final class BalancedPlacement {
    private BalancedPlacement() {}

    public static Placement of(long[] loads, int devices, int nodes, int slots) {
        int E = loads.length;
        Placement.checkMesh(devices, nodes);
        if (slots < 1 || (long) slots * devices < E) {
            throw new JmoeException("--placement", slots + " expert slots on each of " + devices + " devices cannot hold " + E + " experts");
        }
        int[] replicas = new int[E];
        Arrays.fill(replicas, 1);
        int spare = slots * devices - E;
        for (int s = 0; s < spare; s++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                if (replicas[e] >= devices) continue; // at most one replica per device
                if (best < 0 || (double) loads[e] / replicas[e] > (double) loads[best] / replicas[best]) best = e;
            }
            if (best < 0) break;
            replicas[best]++;
        }
        List<double[]> items = new ArrayList<>(); // {expert, load per replica}
        for (int e = 0; e < E; e++) for (int r = 0; r < replicas[e]; r++) items.add(new double[]{e, (double) loads[e] / replicas[e]});
        items.sort((a, b) -> a[1] != b[1] ? Double.compare(b[1], a[1]) : Double.compare(a[0], b[0]));
        double[] deviceLoad = new double[devices];
        int[] used = new int[devices];
        List<List<Integer>> holders = new ArrayList<>();
        for (int e = 0; e < E; e++) holders.add(new ArrayList<>());
        for (double[] it : items) {
            int e = (int) it[0], best = -1;
            for (int d = 0; d < devices; d++) {
                if (used[d] >= slots || holders.get(e).contains(d)) continue;
                if (best < 0 || deviceLoad[d] < deviceLoad[best]) best = d;
            }
            if (best < 0) continue; // every device with room already holds e: one replica fewer (its first is placed)
            holders.get(e).add(best);
            used[best]++;
            deviceLoad[best] += it[1];
        }
        int[][] h = new int[E][];
        for (int e = 0; e < E; e++) h[e] = holders.get(e).stream().mapToInt(Integer::intValue).toArray();
        return Placement.of("balanced", devices, nodes, h);
    }
}
