package org.jmoe.moe;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** Properties of the papers' routers (MoGE, Ada-K, LocMoE) and of Switch, Hash and DeepSeek, over seeded random inputs. */
class PaperRoutersTest {
    static RouterInput input(SplittableRandom r, int T, int E, int H) {
        RouterInput in = RouterTest.input(r, T, E);
        in.hiddenDim = H;
        in.hidden = new float[T * H];
        for (int i = 0; i < in.hidden.length; i++) in.hidden[i] = (float) r.nextGaussian();
        in.tokenIds = new int[T];
        for (int t = 0; t < T; t++) in.tokenIds[t] = r.nextInt(50_000);
        return in;
    }

    @Test
    void mogeTakesExactlyKPrimePerGroupAndIsBalancedInEveryBatchWhileTopKAlmostNeverIs() {
        // PAPERS.md §1: N = 64, K = 8, M = 8, |X| = 16.
        SplittableRandom r = new SplittableRandom(11);
        int E = 64, M = 8, K = 8, T = 16, batches = 400, topkImbalanced = 0;
        Placement devices = Placement.contiguous(E, M, 1);
        for (int b = 0; b < batches; b++) {
            RouterInput in = input(r, T, E, 8);
            RoutingPlan p = new RoutingPlan().reset(T, E, K);
            new MoGERouter("moge", M, K / M).route(in, p);
            for (int t = 0; t < T; t++) {
                int[] perGroup = new int[M];
                for (int s = 0; s < p.k(t); s++) perGroup[p.expert(t, s) / (E / M)]++;
                for (int g : perGroup) assertThat(g).isEqualTo(K / M);
            }
            assertThat(BatchLoad.of(0, p, devices, 4).imbalanceScore()).isZero();
            RoutingPlan q = new RoutingPlan().reset(T, E, K);
            new TopKRouter("topk", TopKRouter.Scores.SOFTMAX, K, true, 1f, 1, 1).route(in, q);
            if (BatchLoad.of(0, q, devices, 4).imbalanceScore() > 0) topkImbalanced++;
        }
        // "IS > 0 almost surely": a perfectly balanced top-8 batch of 16 tokens is a rare event.
        assertThat(topkImbalanced).isGreaterThanOrEqualTo(batches * 99 / 100);
    }

    @Test
    void deepseekNeverPicksFromAMaskedGroup() {
        SplittableRandom r = new SplittableRandom(12);
        for (int it = 0; it < 300; it++) {
            int groups = 8, kept = 1 + r.nextInt(4), E = 64, gs = E / groups, k = 1 + r.nextInt(kept * gs < 8 ? kept * gs : 8), T = 4;
            RouterInput in = input(r, T, E, 4);
            in.selectionBias = new float[E];
            for (int e = 0; e < E; e++) in.selectionBias[e] = (float) (0.2 * r.nextGaussian());
            RoutingPlan p = new RoutingPlan().reset(T, E, k);
            new TopKRouter("deepseek", TopKRouter.Scores.SIGMOID, k, true, 2.5f, groups, kept).route(in, p);
            for (int t = 0; t < T; t++) {
                // Independent recomputation of the masked groups: group score = sum of its two best (sigmoid + bias).
                double[] score = new double[groups];
                for (int g = 0; g < groups; g++) {
                    double[] s = new double[gs];
                    for (int i = 0; i < gs; i++) {
                        int e = g * gs + i;
                        s[i] = 1 / (1 + Math.exp(-in.logits[t * E + e])) + in.selectionBias[e];
                    }
                    Arrays.sort(s);
                    score[g] = s[gs - 1] + s[gs - 2];
                }
                Integer[] order = new Integer[groups];
                for (int g = 0; g < groups; g++) order[g] = g;
                Arrays.sort(order, (a, b) -> Double.compare(score[b], score[a]));
                Set<Integer> allowed = new HashSet<>(Arrays.asList(order).subList(0, kept));
                assertThat(p.k(t)).isEqualTo(k);
                for (int s = 0; s < p.k(t); s++) assertThat(allowed).contains(p.expert(t, s) / gs);
            }
        }
    }

    @Test
    void adaKPicksBetweenOneAndNExpertsAndItsWeightsSumToOne() {
        SplittableRandom r = new SplittableRandom(13);
        int L = 2, E = 16, H = 24;
        AdaKAllocators alloc = AdaKAllocators.random(L, new boolean[]{true, true}, E, H, 5, 4.0);
        AdaKRouter router = new AdaKRouter("adak", alloc, 0, null, AdaKRouter.Scores.SOFTMAX, 4, true, 1f, 1, true);
        Set<Integer> seen = new HashSet<>();
        for (int it = 0; it < 200; it++) {
            int T = 1 + r.nextInt(12);
            RouterInput in = input(r, T, E, H);
            in.layer = r.nextInt(L);
            RoutingPlan p = new RoutingPlan().reset(T, E, router.maxK(E));
            router.route(in, p);
            RouterTest.assertConsistent(p);
            for (int t = 0; t < T; t++) {
                int k = p.k(t);
                assertThat(k).isBetween(1, E);
                seen.add(k);
                // k* is the argmax of W_alloc x (softmax is monotone), recomputed here in double.
                float[] w = alloc.layer(in.layer);
                int best = 0;
                double bestV = Double.NEGATIVE_INFINITY;
                for (int n = 0; n < E; n++) {
                    double v = 0;
                    for (int i = 0; i < H; i++) v += (double) w[n * H + i] * in.hidden[t * H + i];
                    if (v > bestV) { bestV = v; best = n; }
                }
                assertThat(k).isEqualTo(best + 1);
                double sum = 0;
                for (int s = 0; s < k; s++) sum += p.weight(t, s);
                assertThat(sum).isCloseTo(1.0, within(1e-5)); // float renormalisation of <= 16 terms
                // the chosen experts are the k largest router probabilities
                float[] z = Arrays.copyOfRange(in.logits, t * E, (t + 1) * E);
                float min = Float.MAX_VALUE;
                for (int s = 0; s < k; s++) min = Math.min(min, z[p.expert(t, s)]);
                int above = 0;
                for (float v : z) if (v > min) above++;
                assertThat(above).isLessThanOrEqualTo(k - 1);
            }
        }
        assertThat(seen.size()).as("random allocators spread k").isGreaterThan(3);
    }

    @Test
    void adaKThresholdPolicyIsTheSmallestKReachingTheMass() {
        SplittableRandom r = new SplittableRandom(14);
        int E = 8;
        for (double thr : new double[]{0.3, 0.5, 0.9, 1.0}) {
            AdaKRouter router = new AdaKRouter("adak:threshold=" + thr, null, thr, null, AdaKRouter.Scores.SOFTMAX, 2, true, 1f, 1, true);
            for (int it = 0; it < 100; it++) {
                RouterInput in = input(r, 3, E, 4);
                RoutingPlan p = new RoutingPlan().reset(3, E, E);
                router.route(in, p);
                for (int t = 0; t < 3; t++) {
                    double[] prob = new double[E];
                    double max = Double.NEGATIVE_INFINITY, z = 0;
                    for (int e = 0; e < E; e++) max = Math.max(max, in.logits[t * E + e]);
                    for (int e = 0; e < E; e++) z += prob[e] = Math.exp(in.logits[t * E + e] - max);
                    for (int e = 0; e < E; e++) prob[e] /= z;
                    Arrays.sort(prob);
                    double c = 0;
                    int want = E;
                    for (int k = 1; k <= E; k++) {
                        c += prob[E - k];
                        if (c >= thr - 1e-6) { want = k; break; }
                    }
                    // float vs double cumulative sums may disagree by one exactly at the threshold
                    assertThat(p.k(t)).isBetween(Math.max(1, want - 1), Math.min(E, want + 1));
                }
            }
        }
    }

    @Test
    void adaKOnMogeKeepsEveryBatchBalanced() {
        SplittableRandom r = new SplittableRandom(15);
        int E = 32, M = 4, K = 8, H = 16;
        AdaKAllocators alloc = AdaKAllocators.random(1, new boolean[]{true}, E, H, 9, 4.0);
        AdaKRouter router = new AdaKRouter("adak", alloc, 0, null, AdaKRouter.Scores.SOFTMAX, K, false, 1f, M, true);
        Placement devices = Placement.contiguous(E, M, 1);
        Set<Integer> ks = new HashSet<>();
        for (int it = 0; it < 200; it++) {
            int T = 1 + r.nextInt(16);
            RouterInput in = input(r, T, E, H);
            RoutingPlan p = new RoutingPlan().reset(T, E, E);
            router.route(in, p);
            assertThat(BatchLoad.of(0, p, devices, 4).imbalanceScore()).isZero();
            for (int t = 0; t < T; t++) {
                assertThat(p.k(t) % M).isZero();
                ks.add(p.k(t));
            }
        }
        assertThat(ks.size()).isGreaterThan(1);
    }

    @Test
    void locMoENeverExceedsCapacityKeepsTheBoundAndPrefersLocalExperts() {
        SplittableRandom r = new SplittableRandom(16);
        for (int it = 0; it < 300; it++) {
            int D = 4, G = 2, E = 16, T = 8 + r.nextInt(64), H = 8 + r.nextInt(120);
            double cf = 0.5 + r.nextDouble(), delta = r.nextDouble() * 0.5, ratio = r.nextDouble();
            Placement pl = r.nextBoolean() ? Placement.contiguous(E, D, G) : Placement.roundRobin(E, D, G);
            LocMoERouter router = new LocMoERouter("locmoe", pl, ratio, cf, delta);
            RouterInput in = input(r, T, E, H);
            RoutingPlan p = new RoutingPlan().reset(T, E, 1);
            router.route(in, p);
            int cap = router.capacity(T, E, H);
            double bound = LocMoECapacity.minFraction(E, delta, H) * T;
            assertThat((double) cap).isGreaterThanOrEqualTo(Math.min(T, Math.ceil(bound - 1e-9)));
            assertThat(cap).isGreaterThanOrEqualTo(Math.min(T, (int) Math.ceil(T * cf / E)));
            int routed = 0;
            for (int e = 0; e < E; e++) {
                assertThat(p.load(e)).isLessThanOrEqualTo(cap);
                routed += p.load(e);
            }
            assertThat(routed + p.dropped()).isEqualTo(T);
        }
        // min_ratio = 0: every token that is served stays on its node.
        Placement pl = Placement.contiguous(16, 4, 2);
        LocMoERouter local = new LocMoERouter("locmoe", pl, 0, 4.0, 0);
        RouterInput in = input(r, 32, 16, 8);
        RoutingPlan p = new RoutingPlan().reset(32, 16, 1);
        local.route(in, p);
        assertThat(BatchLoad.of(0, p, pl, 4).crossNodeBytes()).isZero();
    }

    @Test
    void locMoEWithRatioOneIsTopOneOfTheReluGate() {
        SplittableRandom r = new SplittableRandom(17);
        Placement pl = Placement.contiguous(8, 2, 2);
        LocMoERouter router = new LocMoERouter("locmoe", pl, 1.0, 100.0, 0); // capacity never binds
        for (int it = 0; it < 100; it++) {
            RouterInput in = input(r, 6, 8, 4);
            RoutingPlan p = new RoutingPlan().reset(6, 8, 1);
            router.route(in, p);
            for (int t = 0; t < 6; t++) {
                double max = 0, z = 0;
                for (int e = 0; e < 8; e++) max = Math.max(max, Math.max(0, in.logits[t * 8 + e]));
                double[] g = new double[8];
                for (int e = 0; e < 8; e++) z += g[e] = Math.exp(Math.max(0, in.logits[t * 8 + e]) - max);
                int best = 0;
                for (int e = 1; e < 8; e++) if (g[e] > g[best]) best = e;
                if (g[best] / z <= 1.0 / 8 + 1e-9) continue; // all gates 0: every expert ties
                assertThat(p.expert(t, 0)).isEqualTo(best);
                assertThat((double) p.weight(t, 0)).isCloseTo(g[best] / z, within(1e-6));
            }
        }
    }

    @Test
    void grapGateRoutesBySliceMeans() {
        SplittableRandom r = new SplittableRandom(20);
        Placement pl = Placement.contiguous(4, 2, 2);
        LocMoERouter router = new LocMoERouter("locmoe:gate=grap", pl, 1.0, 100.0, 0, true);
        for (int it = 0; it < 100; it++) {
            int H = 4 + r.nextInt(30), T = 5;
            RouterInput in = input(r, T, 4, H);
            RoutingPlan p = new RoutingPlan().reset(T, 4, 1);
            router.route(in, p);
            for (int t = 0; t < T; t++) {
                double[] mean = new double[4];
                for (int i = 0; i < 4; i++) {
                    int a = i * H / 4, b = (i + 1) * H / 4;
                    for (int j = a; j < b; j++) mean[i] += in.hidden[t * H + j];
                    mean[i] /= (b - a);
                }
                int best = 0;
                for (int i = 1; i < 4; i++) if (mean[i] > mean[best]) best = i;
                if (mean[best] <= 0) continue; // ReLU: all gates zero tie
                assertThat(p.expert(t, 0)).isEqualTo(best); // the router's own logits are ignored
            }
        }
    }

    @Test
    void switchRespectsCapacityAndCountsDrops() {
        SplittableRandom r = new SplittableRandom(18);
        for (int it = 0; it < 200; it++) {
            int E = 4 + r.nextInt(12), T = 1 + r.nextInt(64);
            double cf = 0.25 + r.nextDouble() * 2;
            SwitchRouter s = new SwitchRouter("switch", cf);
            RouterInput in = input(r, T, E, 4);
            RoutingPlan p = new RoutingPlan().reset(T, E, 1);
            s.route(in, p);
            int cap = (int) Math.min(T, Math.ceil(T * cf / E));
            int routed = 0;
            for (int e = 0; e < E; e++) {
                assertThat(p.load(e)).isLessThanOrEqualTo(cap);
                routed += p.load(e);
            }
            assertThat(routed + p.dropped()).isEqualTo(T);
            for (int t = 0; t < T; t++) {
                if (p.k(t) == 0) continue;
                int best = 0;
                for (int e = 1; e < E; e++) if (in.logits[t * E + e] > in.logits[t * E + best]) best = e;
                assertThat(p.expert(t, 0)).isEqualTo(best); // top-1 of softmax = top-1 of the logits
            }
        }
    }

    @Test
    void hashIsDeterministicIgnoresTheHiddenStateAndSpreadsTokens() {
        SplittableRandom r = new SplittableRandom(19);
        HashRouter h = new HashRouter("hash:k=2", 2, true, 2, true);
        int E = 16;
        long[] counts = new long[E];
        for (int it = 0; it < 50; it++) {
            RouterInput a = input(r, 20, E, 4);
            RouterInput b = input(r, 20, E, 4);
            b.tokenIds = a.tokenIds.clone();
            RoutingPlan pa = new RoutingPlan().reset(20, E, 2), pb = new RoutingPlan().reset(20, E, 2);
            h.route(a, pa);
            h.route(b, pb);
            for (int t = 0; t < 20; t++) {
                assertThat(pa.k(t)).isEqualTo(2);
                assertThat(pa.expert(t, 0)).isNotEqualTo(pa.expert(t, 1));
                for (int s = 0; s < 2; s++) {
                    assertThat(pb.expert(t, s)).isEqualTo(pa.expert(t, s));
                    assertThat(pa.weight(t, s)).isEqualTo(0.5f);
                    counts[pa.expert(t, s)]++;
                }
            }
        }
        assertThat(new HashRouter("hash", 2, true, 2, true).expertsOf(12345, E)).containsExactly(h.expertsOf(12345, E));
        // 2000 assignments over 16 experts: each expert near 125 (a fair hash; 5 sigma is about +-55)
        for (long c : counts) assertThat(c).isBetween(60L, 190L);
    }

    @Test
    void allocatorFilesRoundTripAndBadOnesAreRefused(@TempDir Path dir) throws Exception {
        AdaKAllocators a = AdaKAllocators.random(3, new boolean[]{false, true, true}, 8, 12, 1, 1.0);
        Path f = dir.resolve("alloc.safetensors");
        a.write(f);
        AdaKAllocators b = AdaKAllocators.load(f, 3, 8, 12, new boolean[]{false, true, true});
        assertThat(b.layer(0)).isNull();
        assertThat(b.layer(1)).containsExactly(a.layer(1));
        assertThat(b.layer(2)).containsExactly(a.layer(2));
        assertThatThrownBy(() -> AdaKAllocators.load(f, 3, 8, 16, new boolean[]{false, true, true}))
                .hasMessageContaining("allocator shape [8, 12], the model needs [8, 16]").hasMessageContaining("layers.1.allocator.weight");
        assertThatThrownBy(() -> AdaKAllocators.load(f, 3, 8, 12, new boolean[]{true, true, true}))
                .hasMessageContaining("no allocator for MoE layer 0");
        assertThatThrownBy(() -> AdaKAllocators.load(f, 2, 8, 12, new boolean[]{false, true}))
                .hasMessageContaining("allocator for layer 2 but the model has 2 layers");
    }
}
