package org.jmoe.sim;

import org.jmoe.JmoeException;
import org.jmoe.moe.RouterSpec;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** Each router's rule shapes the sampled loads the way its mechanism implies. */
class RoutingLoadTest {
    static final ModelProfile PANGU = ModelProfiles.load("pangu-pro-moe"); // N = 64, K = 8, M = 8

    /** A sampler over 8 devices of {@code hw}, experts contiguous (8 per device = one MoGE group each). */
    static LoadSampler sampler(String spec, String popularity, Hardware hw, int devices, long seed) {
        RouterModel r = RouterModel.of(RouterSpec.parse(spec, "test"), PANGU, devices);
        int[][] ed = new int[64][];
        for (int e = 0; e < 64; e++) ed[e] = new int[]{e * devices / 64};
        int[] homes = new int[devices];
        for (int d = 0; d < devices; d++) homes[d] = d;
        return new LoadSampler(r, Popularity.parse(popularity), null, ed, homes, hw, seed);
    }

    static int[] ranks(int devices) {
        int[] r = new int[64];
        for (int e = 0; e < 64; e++) r[e] = e * devices / 64;
        return r;
    }

    @Test
    void mogeLoadsAreEqualPerDeviceByConstructionWhileTopKsAreNot() {
        Hardware hw = HardwareProfiles.load("h100");
        int[] rank = ranks(8);
        double topkMaxOverMean = 0;
        for (String pop : new String[]{"uniform", "zipf:1.2"}) {
            for (long tokens : new long[]{16, 100, 4000, 50_000}) {
                for (int layer = 0; layer < 4; layer++) {
                    LayerLoad moge = sampler("moge", pop, hw, 8, 7).layer(tokens, layer);
                    long[] per = moge.rankRows(rank, 8);
                    for (long v : per) assertThat(v).as(pop + " T=" + tokens).isEqualTo(tokens); // T·K/M = T rows on each
                    assertThat(moge.imbalanceScore(rank, 8)).isZero();
                    LayerLoad topk = sampler("topk:k=8", pop, hw, 8, 7).layer(tokens, layer);
                    assertThat(topk.rows()).isEqualTo(8 * tokens);
                    if (tokens == 16 && pop.equals("uniform")) topkMaxOverMean += topk.maxOverMean(rank, 8) / 4;
                    assertThat(topk.maxOverMean(rank, 8)).as(pop + " T=" + tokens).isGreaterThan(1.0);
                }
            }
        }
        // |X| = 16 tokens, 128 rows over 8 devices: the busiest device gets well above the mean of 16
        assertThat(topkMaxOverMean).isGreaterThan(1.3);
    }

    @Test
    void hashIgnoresPopularityAndSwitchDropsAtCapacity() {
        Hardware hw = HardwareProfiles.load("h100");
        int[] rank = ranks(8);
        LayerLoad hash = sampler("hash", "zipf:1.5", hw, 8, 3).layer(20_000, 0);
        LayerLoad sw = sampler("switch:cf=1.25", "zipf:1.5", hw, 8, 3).layer(20_000, 0);
        LayerLoad top1 = sampler("topk:k=1", "zipf:1.5", hw, 8, 3).layer(20_000, 0);
        assertThat(hash.maxOverMean(rank, 8)).isLessThan(1.1);
        assertThat(top1.maxOverMean(rank, 8)).isGreaterThan(1.5);
        long cap = (long) Math.ceil(20_000 * 1.25 / 64);
        for (long v : sw.expertRows()) assertThat(v).isLessThanOrEqualTo(cap);
        assertThat(sw.dropped()).isPositive();
        assertThat(sw.rows() + sw.dropped()).isEqualTo(20_000);
    }

    @Test
    void locMoeKeepsMoreRowsOnTheTokensNode() {
        Hardware hw = HardwareProfiles.load("ascend-910a"); // 8 devices per node: 16 devices = 2 nodes
        LayerLoad loc = sampler("locmoe", "uniform", hw, 16, 5).layer(3000, 0);
        LayerLoad top1 = sampler("topk:k=1", "uniform", hw, 16, 5).layer(3000, 0);
        LayerLoad local = sampler("locmoe:min_ratio=0", "uniform", hw, 16, 5).layer(3000, 0);
        double interTop1 = top1.levelShare()[Level.CLUSTER.ordinal()], interLoc = loc.levelShare()[Level.CLUSTER.ordinal()];
        assertThat(interTop1).isCloseTo(0.5, within(0.05)); // half the experts are on the other node
        assertThat(interLoc).isLessThan(interTop1 - 0.03);
        assertThat(local.levelShare()[Level.CLUSTER.ordinal()]).isZero(); // ρ = 0: always the best local expert
    }

    @Test
    void adaKLowersMeanKAndStaysBalancedOnMoge() {
        Hardware hw = HardwareProfiles.load("h100");
        ModelProfile mixtral = ModelProfiles.load("mixtral-8x7b");
        RouterModel ada = RouterModel.of(RouterSpec.parse("adak", "t"), mixtral, 8);
        int[][] ed = new int[8][];
        for (int e = 0; e < 8; e++) ed[e] = new int[]{e};
        LayerLoad l = new LoadSampler(ada, Popularity.parse("uniform"), null, ed, new int[]{0, 1, 2, 3, 4, 5, 6, 7}, hw, 1).layer(4000, 0);
        assertThat(l.meanK()).isCloseTo(1.4, within(0.05)); // Ada-K's reported 2 -> 1.40 on Mixtral
        // on Pangu (MoGE) the balanced Ada-K rounds k up to whole rounds of the 8 groups: k stays 8, IS stays 0
        LayerLoad p = sampler("adak:mean_k=5", "uniform", hw, 8, 1).layer(500, 0);
        assertThat(p.meanK()).isEqualTo(8.0);
        assertThat(p.imbalanceScore(ranks(8), 8)).isZero();
    }

    @Test
    void badRouterKeysAreRefused() {
        assertThatThrownBy(() -> RouterModel.of(RouterSpec.parse("moge:k=3", "--router"), PANGU, 8)).isInstanceOf(JmoeException.class)
                .hasMessageContaining("not a multiple of groups=8");
        assertThatThrownBy(() -> RouterModel.of(RouterSpec.parse("topk:q=1", "--router"), PANGU, 8)).isInstanceOf(JmoeException.class)
                .hasMessageContaining("unknown parameter 'q'");
    }
}
