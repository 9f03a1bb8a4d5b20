package org.jmoe.sim;

import org.junit.jupiter.api.Test;

import java.util.EnumMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The cost model against hand-computed cases. */
class CostModelTest {
    /**
     * A made-up machine with round figures: 100 TFLOPS bf16, 1000 GB/s, no derating, no launch overhead, tile of one
     * row; 2 cards per node in one group; group link 100 GB/s / 1 µs, node link unused, cluster link 10 GB/s / 5 µs.
     */
    static Hardware toy() {
        Map<Level, Link> links = new EnumMap<>(Level.class);
        links.put(Level.GROUP, new Link(1, 100));
        links.put(Level.NODE, new Link(2, 50));
        links.put(Level.CLUSTER, new Link(5, 10));
        return new Hardware("toy", "", Map.of("bf16", 100.0), 1000, 80, 1, 2, 2, links, 1, 1, Map.of(), 0, 10, 1, 0.9, java.util.List.of(), 0);
    }

    @Test
    void computeBoundGemmTakesTwoMnkOverPeak() {
        Roofline r = new Roofline(toy(), SimDtype.BF16);
        double m = 4096, n = 4096, k = 4096;
        // 2mnk = 1.374e11 FLOP at 1e14 FLOP/s = 1.374 ms; bytes (n·k + m·k + m·n)·2 = 1.0e8 B at 1e12 B/s = 0.1 ms
        assertThat(r.gemm(m, n, k)).isCloseTo(2 * m * n * k / 100e12, within(1e-12));
    }

    @Test
    void oneRowGemmIsBoundByReadingTheWeights() {
        Roofline r = new Roofline(toy(), SimDtype.BF16);
        // m = 1: 2·4096·4096 FLOP = 0.34 µs of compute; 4096·4096·2 B of weights + (4096 + 4096)·2 B of activations
        double want = (4096.0 * 4096 * 2 + 8192 * 2) / 1000e9;
        assertThat(r.gemm(1, 4096, 4096)).isCloseTo(want, within(1e-15));
    }

    @Test
    void tinyExpertLoadsCostTheirWeightsNotTheirRows() {
        Roofline r = new Roofline(toy(), SimDtype.BF16);
        long[] one = {1, 0, 0, 0}, four = {1, 1, 1, 1};
        // four active experts read four experts' weights: ~4x the time of one, though the rows are 4 either way
        assertThat(r.experts(four, 1024, 512) / r.experts(one, 1024, 512)).isCloseTo(4.0, within(0.05));
    }

    @Test
    void measuredEfficiencyByRowsSlowsComputeNotStreaming() {
        // the toy machine with kernels at half speed at every row count
        Hardware h = toy().withRowEfficiency(java.util.List.of(new double[]{1, 0.5}, new double[]{1000, 0.5}));
        Roofline r = new Roofline(h, SimDtype.BF16);
        double m = 4096, n = 4096, k = 4096;
        // compute bound (1.374 ms against 0.1 ms of traffic): twice as long
        assertThat(r.gemm(m, n, k)).isCloseTo(2 * (2 * m * n * k / 100e12), within(1e-12));
        // one row: 0.34 us of compute, doubled, is still under the 33.6 us of weights: the weights set the time
        assertThat(r.gemm(1, 4096, 4096)).isCloseTo((4096.0 * 4096 * 2 + 8192 * 2) / 1000e9, within(1e-15));
    }

    @Test
    void levelsFollowTheAscendServerTopology() {
        Hardware h = HardwareProfiles.load("ascend-910a"); // 8 NPUs per server, two HCCS groups of 4
        assertThat(h.level(0, 0)).isEqualTo(Level.SELF);
        assertThat(h.level(0, 3)).isEqualTo(Level.GROUP);
        assertThat(h.level(0, 4)).isEqualTo(Level.NODE);
        assertThat(h.level(3, 4)).isEqualTo(Level.NODE);
        assertThat(h.level(7, 8)).isEqualTo(Level.CLUSTER);
        Hardware duo = HardwareProfiles.load("ascend-300i-duo"); // 2 dies per card: a card is a group
        assertThat(duo.level(0, 1)).isEqualTo(Level.GROUP);
        assertThat(duo.level(1, 2)).isEqualTo(Level.NODE);
        assertThat(duo.memoryGb()).isCloseTo(48, within(1e-9));
        assertThat(duo.peakTflops().get("int8")).isCloseTo(140, within(1e-9));
    }

    @Test
    void allToAllOnTwoNodesOfTwo() {
        Hardware h = toy();
        int[] devs = {0, 1, 2, 3}; // node 0 = {0, 1}, node 1 = {2, 3}
        double b = 1e6; // bytes to each peer
        // device 0: one peer in its group (1 µs + 1 MB at 100 GB/s = 11 µs), two across nodes (2·5 µs + 2 MB at 10 GB/s = 210 µs)
        assertThat(Collectives.allToAll(h, devs, b)).isCloseTo(210e-6, within(1e-12));
        assertThat(Collectives.peers(h, devs)).containsExactly(0, 1, 0, 2);
    }

    @Test
    void ringCollectivesRunAtTheSlowestLinkTheyCross() {
        Hardware h = toy();
        double bytes = 4e6;
        // inside a node: all-reduce of 4 MB over 2 devices = 2·(1)·(1 µs + 2 MB / 100 GB/s) = 2·21 µs
        assertThat(Collectives.allReduce(h, new int[]{0, 1}, bytes)).isCloseTo(42e-6, within(1e-12));
        // over both nodes: 2·3·(5 µs + 1 MB / 10 GB/s) = 630 µs
        assertThat(Collectives.allReduce(h, new int[]{0, 1, 2, 3}, bytes)).isCloseTo(630e-6, within(1e-12));
        assertThat(Collectives.allGather(h, new int[]{0, 1, 2, 3}, bytes)).isCloseTo(315e-6, within(1e-12));
    }

    @Test
    void epsOverlapsEachChunksCommunicationWithTheNeighboursCompute() {
        // 4 chunks of 1 ms dispatch, 2 ms compute, 1 ms combine, no shared expert, no overhead:
        // link: d0..d3 end at 1,2,3,4; compute: c0 1-3, c1 3-5, c2 5-7, c3 7-9; combines after each: x0 4-5 (link busy to 4),
        // x1 5-6, x2 7-8, x3 9-10 -> makespan 10 ms against 16 ms serial
        double[] d = {1, 1, 1, 1}, c = {2, 2, 2, 2}, x = {1, 1, 1, 1};
        EpsPipeline.Result r = EpsPipeline.eps(d, c, x, 0, 0);
        assertThat(r.seconds()).isCloseTo(10, within(1e-12));
        assertThat(r.overlapped()).isCloseTo(6, within(1e-12));
        assertThat(EpsPipeline.serial(4, 0, 8, 4).seconds()).isEqualTo(16);
        // N* = sqrt(C / k): C = min(comm 0.02 s, compute 0.05 s), k = 50 µs -> sqrt(400) = 20
        assertThat(EpsPipeline.optimalChunks(0.02, 0.05, 50e-6, 1000)).isEqualTo(20);
    }
}
