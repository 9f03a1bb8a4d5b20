package org.jmoe.sim;

import org.jmoe.calibrate.Calibration;
import org.jmoe.moe.RouterSpec;
import org.jmoe.moe.RoutingStats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Replayed loads ({@code --trace}) keep the recorded rows per token, for a decode step as for a large batch. */
class TraceReplayTest {
    static final ModelProfile PANGU = ModelProfiles.load("pangu-pro-moe"); // N = 64, K = 8

    /**
     * A trace of one layer over 64 experts: 66 tokens at 8 rows each, on experts 0..31 only, expert e with e + 1 rows
     * (every share below one half, so rounding a single token's expected rows gives nothing).
     */
    static TraceLoads trace(Path dir) throws Exception {
        long tokens = 66;
        StringBuilder et = new StringBuilder();
        long sum = 0;
        for (int e = 0; e < 64; e++) {
            long v = e < 32 ? e + 1 : 0; // 1 + .. + 32 = 528 = 8 rows per token
            sum += v;
            et.append(e == 0 ? "" : ",").append(v);
        }
        assertThat(sum).isEqualTo(8 * tokens);
        Path f = dir.resolve("trace.json");
        Files.writeString(f, "{\"format\":\"" + RoutingStats.FORMAT + "\",\"experts\":64,\"mesh\":{},\"steps\":[],\"router\":\"native\","
                + "\"summary\":{\"tokens\":" + tokens + ",\"layers\":[{\"layer\":0,\"expert_tokens\":[" + et + "],\"dropped\":0}]}}");
        return TraceLoads.read(f);
    }

    static LoadSampler sampler(TraceLoads t, long seed) {
        RouterModel r = RouterModel.of(RouterSpec.parse("native", "test"), PANGU, 8);
        int[][] ed = new int[64][];
        for (int e = 0; e < 64; e++) ed[e] = new int[]{e / 8};
        return new LoadSampler(r, Popularity.parse("uniform"), t, ed, new int[]{0, 1, 2, 3, 4, 5, 6, 7}, HardwareProfiles.load("h100"), seed);
    }

    @Test
    void aDecodeStepTakesMeanKDistinctExpertsByTheirShares(@TempDir Path dir) throws Exception {
        TraceLoads t = trace(dir);
        long[] picks = new long[64];
        for (long seed = 0; seed < 400; seed++) {
            long[] rows = sampler(t, seed).layer(1, 0).expertRows();
            long total = 0;
            for (int e = 0; e < 64; e++) {
                assertThat(rows[e]).isBetween(0L, 1L); // distinct experts
                if (e >= 32) assertThat(rows[e]).isZero(); // never an expert the trace did not use
                total += rows[e];
                picks[e] += rows[e];
            }
            assertThat(total).isEqualTo(8); // the recorded 8 rows per token (rounding each share would give none)
        }
        // more popular experts are picked more often: the top four (29..32 rows) against the bottom four (1..4)
        assertThat(picks[28] + picks[29] + picks[30] + picks[31]).isGreaterThan(3 * (picks[0] + picks[1] + picks[2] + picks[3]));
    }

    @Test
    void aLargeBatchGetsTheRecordedRowsExactly(@TempDir Path dir) throws Exception {
        TraceLoads t = trace(dir);
        long tokens = 66 * 3;
        long[] rows = sampler(t, 1).layer(tokens, 0).expertRows();
        long total = 0;
        for (int e = 0; e < 64; e++) {
            assertThat((double) rows[e]).isCloseTo(e < 32 ? 3.0 * (e + 1) : 0, within(1e-9));
            total += rows[e];
        }
        assertThat(total).isEqualTo(8 * tokens);
        // a batch whose shares do not divide evenly still adds up to its rows
        long odd = 1001;
        long sum = 0;
        for (long v : sampler(t, 1).layer(odd, 0).expertRows()) sum += v;
        assertThat(sum).isEqualTo(8 * odd);
    }

    /** A trace of 8 layers over 64 experts, 100 tokens at 8 rows: {@code skewed[l]} puts layer l's rows on experts 0..31. */
    static TraceLoads layered(Path dir, String name, boolean... skewed) throws Exception {
        StringBuilder layers = new StringBuilder();
        for (int l = 0; l < skewed.length; l++) {
            StringBuilder et = new StringBuilder();
            for (int e = 0; e < 64; e++) et.append(e == 0 ? "" : ",").append(skewed[l] ? (e < 32 ? 25 : 0) : (e % 2 == 0 ? 13 : 12));
            layers.append(l == 0 ? "" : ",").append("{\"layer\":").append(l).append(",\"expert_tokens\":[").append(et).append("],\"dropped\":0}");
        }
        Path f = dir.resolve(name + ".json");
        Files.writeString(f, "{\"format\":\"" + RoutingStats.FORMAT + "\",\"experts\":64,\"mesh\":{},\"steps\":[],\"router\":\"native\","
                + "\"summary\":{\"tokens\":100,\"layers\":[" + layers + "]}}");
        return TraceLoads.read(f);
    }

    static double expertsMs(TraceLoads t) {
        ModelProfile m = ModelProfiles.load("olmoe"); // 16 MoE layers, 64 experts, top-8
        Hardware h = HardwareProfiles.load("h100");
        SimRequest r = new SimRequest(m, h, 2, SimRequest.Phase.PREFILL, 8, 512, Plan.parse("attn=dp2,experts=ep2", 2, "2 cards", m),
                RouterSpec.parse("native", "t"), SimRequest.Schedule.SERIAL, 0, SimDtype.BF16, SimDtype.BF16, Popularity.parse("uniform"), t, 1);
        return Simulator.run(r).breakdownMs().get("experts");
    }

    @Test
    void everyRecordedLayerIsReplayedInItsOwnLayer(@TempDir Path dir) throws Exception {
        boolean y = true, n = false;
        // expert parallelism over 2 devices, contiguous: a skewed layer puts all its rows on device 0, which sets the
        // layer's pace; 16 MoE layers replay the 8 recorded layers twice, so the experts' time is the mean of the
        // all-balanced and all-skewed traces' whatever order the layers come in
        double balanced = expertsMs(layered(dir, "b", n, n, n, n, n, n, n, n));
        double skewed = expertsMs(layered(dir, "s", y, y, y, y, y, y, y, y));
        assertThat(skewed).isGreaterThan(1.5 * balanced);
        double lateSkew = expertsMs(layered(dir, "late", n, n, n, n, y, y, y, y));
        double earlySkew = expertsMs(layered(dir, "early", y, y, y, y, n, n, n, n));
        assertThat(lateSkew).isCloseTo((balanced + skewed) / 2, within(1e-9 * skewed));
        assertThat(earlySkew).isCloseTo((balanced + skewed) / 2, within(1e-9 * skewed));
    }

    @Test
    void aDecodeStepIsTheMeanOverDrawsOfItsLoad(@TempDir Path dir) throws Exception {
        // Mixtral: 8 experts, top-2, 32 layers; a trace of 32 layers with every expert equally likely; experts over
        // 2 devices (4 each). One token's 2 distinct experts share a device with probability 2·C(4,2)/C(8,2) = 3/7, so
        // the busiest device's rows over the mean (1) are 2 with probability 3/7, else 1: expected 10/7. A layer's one
        // draw is 1 or 2; the mean over each layer's draws comes close to 10/7 for every seed
        StringBuilder layers = new StringBuilder();
        for (int l = 0; l < 32; l++) layers.append(l == 0 ? "" : ",").append("{\"layer\":").append(l).append(",\"expert_tokens\":[25,25,25,25,25,25,25,25],\"dropped\":0}");
        Path f = dir.resolve("uniform8.json");
        Files.writeString(f, "{\"format\":\"" + RoutingStats.FORMAT + "\",\"experts\":8,\"mesh\":{},\"steps\":[],\"router\":\"native\","
                + "\"summary\":{\"tokens\":100,\"layers\":[" + layers + "]}}");
        TraceLoads t = TraceLoads.read(f);
        ModelProfile m = ModelProfiles.load("mixtral-8x7b");
        for (long seed = 1; seed <= 10; seed++) {
            SimRequest r = new SimRequest(m, HardwareProfiles.load("h100"), 2, SimRequest.Phase.DECODE, 1, 512, Plan.parse("attn=tp2,experts=ep2", 2, "2 cards", m),
                    RouterSpec.parse("native", "t"), SimRequest.Schedule.SERIAL, 0, SimDtype.BF16, SimDtype.BF16, Popularity.parse("uniform"), t, seed);
            assertThat(Simulator.run(r).routing().get("max_over_mean")).isCloseTo(10.0 / 7, within(0.1));
        }
    }

    /** One layer over 64 experts recorded on 600 tokens: experts 0..31 with 100 rows each, 32..63 with 50. */
    static Path twoToOne(Path dir) throws Exception {
        StringBuilder et = new StringBuilder();
        for (int e = 0; e < 64; e++) et.append(e == 0 ? "" : ",").append(e < 32 ? 100 : 50);
        Path f = dir.resolve("two-to-one.json");
        Files.writeString(f, "{\"format\":\"" + RoutingStats.FORMAT + "\",\"experts\":64,\"mesh\":{},\"steps\":[],\"router\":\"native\","
                + "\"summary\":{\"tokens\":600,\"layers\":[{\"layer\":0,\"expert_tokens\":[" + et + "],\"dropped\":0}]}}");
        return f;
    }

    @Test
    void anEnginesDevicesShareTheLayersExpertTimeByRows(@TempDir Path dir) throws Exception {
        // OLMoE's 64 experts over this machine cut into 2 devices (32 each): experts 0..31 take 100 rows per 600
        // recorded tokens, 32..63 take 50, so a 300-token prefill gives device 0 1600 rows and device 1 800. The
        // busier device's time is the layer's (each device's experts at their own rows, summed) times its 2/3 of
        // the rows
        Path f = twoToOne(dir);
        ModelProfile m = ModelProfiles.load("olmoe");
        Hardware cut = HardwareProfiles.localCpu(ProfilesTest.calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2}"), 2);
        SimRequest r = new SimRequest(m, cut, 1, SimRequest.Phase.PREFILL, 1, 300, Plan.parse("attn=tp2,experts=ep2", 2, "1 card", m),
                RouterSpec.parse("native", "t"), SimRequest.Schedule.SERIAL, 0, SimDtype.F32, SimDtype.F32, Popularity.parse("uniform"), TraceLoads.read(f), 1);
        long[] busy = new long[32], light = new long[32];
        java.util.Arrays.fill(busy, 50);
        java.util.Arrays.fill(light, 25);
        Roofline roof = new Roofline(cut, SimDtype.F32);
        double layer = roof.experts(busy, m.hidden(), m.expertFfn()) + roof.experts(light, m.hidden(), m.expertFfn());
        double want = m.layers() * layer * 1600 / 2400 * 1e3;
        assertThat(Simulator.run(r).breakdownMs().get("experts")).isCloseTo(want, within(want * 1e-9));
    }

    @Test
    void aChunkReadsOnlyTheExpertsItsTokensReach(@TempDir Path dir) throws Exception {
        // a chunk: an expert of r rows is in it with probability 1 - (1 - 1/n)^r, with r/n rows on average; an expert
        // loaded beyond 4 rows per chunk gets its even share
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        long[] rows = {0, 1, 3, 16, 5000};
        int n = 16, draws = 4000;
        int[] active = new int[rows.length];
        long[] sum = new long[rows.length];
        for (int d = 0; d < draws; d++) {
            long[] part = StageModel.chunkOf(rows, n, rnd);
            for (int e = 0; e < rows.length; e++) {
                if (part[e] > 0) active[e]++;
                sum[e] += part[e];
            }
            assertThat(part[4]).isEqualTo(Math.round(5000.0 / n));
        }
        for (int e = 0; e < rows.length; e++) {
            assertThat((double) active[e] / draws).isCloseTo(e == 4 ? 1 : 1 - Math.pow(1 - 1.0 / n, rows[e]), within(0.03));
            assertThat((double) sum[e] / draws).isCloseTo((double) rows[e] / n, within(0.02 * rows[e] / n + 0.01));
        }
        // a 128-token prefill, 16 rows per expert, as 16 EPS chunks of 8 tokens on one device: a chunk reaches
        // 1 - (15/16)^16 = 64% of the experts. Every chunk reading all 64 (a row each) bounds it above, half of them below
        StringBuilder et = new StringBuilder();
        for (int e = 0; e < 64; e++) et.append(e == 0 ? "" : ",").append(16);
        Path f = dir.resolve("even.json");
        Files.writeString(f, "{\"format\":\"" + RoutingStats.FORMAT + "\",\"experts\":64,\"mesh\":{},\"steps\":[],\"router\":\"native\","
                + "\"summary\":{\"tokens\":128,\"layers\":[{\"layer\":0,\"expert_tokens\":[" + et + "],\"dropped\":0}]}}");
        ModelProfile m = ModelProfiles.load("olmoe");
        Hardware h = HardwareProfiles.localCpu(ProfilesTest.calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2}"), 1);
        SimRequest eps = new SimRequest(m, h, 1, SimRequest.Phase.PREFILL, 1, 128, Plan.parse("attn=dp1,experts=ep1", 1, "1 card", m),
                RouterSpec.parse("native", "t"), SimRequest.Schedule.EPS, n, SimDtype.F32, SimDtype.F32, Popularity.parse("uniform"), TraceLoads.read(f), 1);
        double got = Simulator.run(eps).breakdownMs().get("experts");
        Roofline roof = new Roofline(h, SimDtype.F32);
        long[] all = new long[64], half = new long[64];
        java.util.Arrays.fill(all, 1);
        java.util.Arrays.fill(half, 0, 32, 1);
        double upper = m.layers() * n * roof.experts(all, m.hidden(), m.expertFfn()) * 1e3;
        double lower = m.layers() * n * roof.experts(half, m.hidden(), m.expertFfn()) * 1e3;
        assertThat(got).isBetween(lower, 0.8 * upper);
    }

    @Test
    void workerJvmsOnTheCoordinatorsCoresOverlapOnlyTheirMessagesLatency(@TempDir Path dir) throws Exception {
        // two worker JVMs linked at 300 us per message and 0.8 GB/s: in-process devices pipeline EPS chunks, workers
        // sharing the coordinator's cores do not (moving rows is CPU work there); only the latency of all but one
        // message per direction and worker is hidden
        Path f = twoToOne(dir);
        ModelProfile m = ModelProfiles.load("olmoe");
        Calibration cal = ProfilesTest.calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2},\"transport\":{\"local\":{\"latency_us\":5,"
                + "\"bandwidth_gbs\":10},\"grpc\":{\"latency_us\":100,\"bandwidth_gbs\":1},\"grpc_workers\":{\"latency_us\":300,\"bandwidth_gbs\":0.8}}");
        int n = 4;
        for (boolean workers : new boolean[]{false, true}) {
            Hardware h = HardwareProfiles.localCpu(cal, 2, workers);
            SimRequest r = new SimRequest(m, h, 1, SimRequest.Phase.PREFILL, 1, 300, Plan.parse("attn=tp2,experts=ep2", 2, "1 card", m),
                    RouterSpec.parse("native", "t"), SimRequest.Schedule.EPS, n, SimDtype.F32, SimDtype.F32, Popularity.parse("uniform"), TraceLoads.read(f), 1);
            SimResult res = Simulator.run(r);
            java.util.Map<String, Double> b = res.breakdownMs();
            double sum = b.values().stream().mapToDouble(Double::doubleValue).sum();
            assertThat(sum).isCloseTo(res.stepMs(), within(1e-6 * res.stepMs())); // the parts add up to the step
            double hidden = -b.get("overlap");
            if (workers) {
                // per MoE layer, 3 of the 4 chunks' messages each way to each of the 2 workers
                assertThat(hidden).isCloseTo(m.layers() * 2 * (n - 1) * 2 * 300e-3, within(1e-9));
            } else {
                // the pipeline hides most of the chunks' transfers (all but the first dispatch and the last combine)
                assertThat(hidden).isGreaterThan(0.25 * (b.get("dispatch") + b.get("combine")));
            }
        }
    }
}
