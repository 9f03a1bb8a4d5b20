package org.jmoe.parallel;

import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.moe.Placement;
import org.jmoe.moe.RoutingStats;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** Expert parallelism inside one JVM gives the single-device outputs bit for bit, and counts the bytes it moves. */
class MeshExpertsTest {
    static Path ref(String rel) {
        return Path.of(System.getProperty("jmoe.reference", "../../shared/reference")).resolve(rel).toAbsolutePath().normalize();
    }

    static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    static float[] logits(Model m, int[] ids, MeshExperts backend) {
        Forward f = new Forward(m, ids.length);
        if (backend != null) f.setExpertBackend(backend);
        float[] out = new float[ids.length * m.config().vocab];
        f.eval(ids, out, true);
        return out;
    }

    @Test
    void everyMeshScheduleAndPlacementEqualsTheSingleDeviceRunBitForBit() {
        for (String model : new String[]{"models/qwen3moe.gguf", "models/olmoe_q8_0.gguf", "models/pangu_tiny64", "models/qwen2moe_q4_0.gguf"}) {
            try (Model m = ModelLoader.load(ref(model))) {
                int E = m.config().experts;
                int[] ids = tokens(37, m.config().vocab, 5);
                float[] want = logits(m, ids, null);
                long[] skew = new long[E];
                for (int e = 0; e < E; e++) skew[e] = 1000 / (e + 1);
                for (int D : new int[]{1, 2, 4}) {
                    for (Placement p : new Placement[]{Placement.contiguous(E, D, D >= 2 ? 2 : 1), Placement.roundRobin(E, D, 1),
                            BalancedPlacement.of(skew, D, 1, (E + D - 1) / D + 1)}) {
                        for (MeshExperts.Schedule s : MeshExperts.Schedule.values()) {
                            for (int chunks : s == MeshExperts.Schedule.SERIAL ? new int[]{1} : new int[]{2, 5}) {
                                try (Mesh mesh = new Mesh(p, 2); MeshExperts me = new MeshExperts(m.config(), mesh, s, chunks)) {
                                    float[] got = logits(m, ids, me);
                                    assertThat(got).as(model + " D=" + D + " " + p.name() + " " + s + " chunks=" + chunks).containsExactly(want);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void bytesMovedAreTheTelemetryPrediction() {
        try (Model m = ModelLoader.load(ref("models/qwen3moe.gguf"))) {
            int E = m.config().experts;
            int[] ids = tokens(48, m.config().vocab, 9);
            for (MeshExperts.Schedule s : MeshExperts.Schedule.values()) {
                Placement p = Placement.contiguous(E, 4, 2);
                try (Mesh mesh = new Mesh(p, 2); MeshExperts me = new MeshExperts(m.config(), mesh, s, 3)) {
                    Forward f = new Forward(m, ids.length);
                    f.setExpertBackend(me);
                    RoutingStats stats = new RoutingStats(new RoutingStats.Header("m", "qwen3moe", "native", "", E, 4, m.config().hidden, 4L * m.config().hidden), p);
                    f.setRoutingListener(lr -> stats.onLayer(lr.layer(), lr.plan()));
                    f.eval(ids, new float[m.config().vocab], false);
                    // telemetry counts dispatch + combine of each off-device row; the mesh counts each hop it made
                    assertThat(me.bytes().intraNodeBytes() + me.bytes().interNodeBytes()).isEqualTo(stats.crossDeviceBytes());
                    assertThat(me.bytes().interNodeBytes()).isEqualTo(stats.crossNodeBytes());
                    long rows = 0;
                    for (var st : stats.steps()) for (var b : st.layers()) rows += b.assignments();
                    assertThat(me.bytes().localBytes() + me.bytes().intraNodeBytes() + me.bytes().interNodeBytes()).isEqualTo(rows * 2 * 4L * m.config().hidden);
                    assertThat(me.times().layerNanos()).isPositive();
                    if (s == MeshExperts.Schedule.SERIAL) assertThat(me.times().overlapFraction()).isBetween(0.0, 1.0);
                }
            }
        }
    }

    @Test
    void balancedPlacementReplicatesHotExpertsAndEvensTheLoad() {
        SplittableRandom r = new SplittableRandom(3);
        int better = 0, cases = 200;
        double ratioB = 0, ratioC = 0;
        for (int it = 0; it < cases; it++) {
            int D = 2 + r.nextInt(7), E = D * (1 + r.nextInt(8)), slots = E / D + 1 + r.nextInt(3);
            long[] loads = new long[E];
            double zipf = 0.5 + r.nextDouble() * 1.5;
            for (int e = 0; e < E; e++) loads[e] = Math.round(10000 / Math.pow(1 + r.nextInt(E), zipf));
            Placement p = BalancedPlacement.of(loads, D, 1, slots);
            int[] used = new int[D];
            double[] devLoad = new double[D], contiguous = new double[D];
            for (int e = 0; e < E; e++) {
                int[] h = p.devicesOf(e);
                assertThat(h.length).isBetween(1, D);
                assertThat(java.util.Arrays.stream(h).distinct().count()).isEqualTo(h.length);
                for (int d : h) { used[d]++; devLoad[d] += (double) loads[e] / h.length; }
                contiguous[e * D / E] += loads[e];
            }
            for (int u : used) assertThat(u).isLessThanOrEqualTo(slots);
            double maxB = java.util.Arrays.stream(devLoad).max().orElse(0), maxC = java.util.Arrays.stream(contiguous).max().orElse(0);
            double mean = java.util.Arrays.stream(loads).sum() / (double) D;
            if (maxB <= maxC + 1e-9) better++;
            ratioB += maxB / mean;
            ratioC += maxC / mean;
            // list scheduling: the busiest device exceeds the mean by at most the hottest expert's load
            assertThat(maxB).isLessThanOrEqualTo(mean + java.util.Arrays.stream(loads).max().orElse(0) + 1e-9);
        }
        // Greedy packing is not optimal, but on skewed loads it beats the contiguous split nearly always, by a lot.
        assertThat(better).isGreaterThanOrEqualTo(cases * 9 / 10);
        assertThat(ratioB / cases).isLessThan(ratioC / cases);
    }
}
