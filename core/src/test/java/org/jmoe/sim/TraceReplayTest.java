package org.jmoe.sim;

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
}
