package org.jmoe.moe;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Properties every routing decision must have, over seeded random logits. */
class RouterTest {
    static RouterInput input(SplittableRandom r, int T, int E) {
        RouterInput in = new RouterInput();
        in.tokens = T;
        in.experts = E;
        in.logits = new float[T * E];
        for (int i = 0; i < in.logits.length; i++) in.logits[i] = (float) (2 * r.nextGaussian());
        return in;
    }

    /** The plan's per-expert view is the transpose of its per-token view. */
    static void assertConsistent(RoutingPlan p) {
        int total = 0;
        for (int e = 0; e < p.experts(); e++) {
            for (int i = 0; i < p.load(e); i++) {
                int slot = p.slotOf(e, i);
                assertThat(p.expert(slot / p.maxK(), slot % p.maxK())).isEqualTo(e);
            }
            total += p.load(e);
        }
        assertThat(total).isEqualTo(p.assignments());
    }

    @Test
    void topKPicksTheKLargestDistinctExpertsAndRenormalises() {
        SplittableRandom r = new SplittableRandom(1);
        for (int it = 0; it < 200; it++) {
            int E = 4 + r.nextInt(60), k = 1 + r.nextInt(Math.min(8, E)), T = 1 + r.nextInt(20);
            RouterInput in = input(r, T, E);
            RoutingPlan p = new RoutingPlan().reset(T, E, k);
            new TopKRouter("topk", TopKRouter.Scores.SOFTMAX, k, true, 1f, 1, 1).route(in, p);
            assertConsistent(p);
            for (int t = 0; t < T; t++) {
                assertThat(p.k(t)).isEqualTo(k);
                Set<Integer> chosen = new HashSet<>();
                double sum = 0;
                float minChosen = Float.POSITIVE_INFINITY;
                for (int s = 0; s < k; s++) {
                    chosen.add(p.expert(t, s));
                    sum += p.weight(t, s);
                    minChosen = Math.min(minChosen, in.logits[t * E + p.expert(t, s)]);
                }
                assertThat(chosen).hasSize(k);
                assertThat(sum).isCloseTo(1.0, within(1e-5)); // float sum of k <= 8 weights
                for (int e = 0; e < E; e++) if (!chosen.contains(e)) assertThat(in.logits[t * E + e]).isLessThanOrEqualTo(minChosen);
            }
        }
    }

    @Test
    void groupLimitedRoutingOnlyUsesTheKeptGroups() {
        SplittableRandom r = new SplittableRandom(2);
        for (int it = 0; it < 200; it++) {
            int groups = 4, used = 2, E = 32, k = 4, T = 1 + r.nextInt(10);
            RouterInput in = input(r, T, E);
            RoutingPlan p = new RoutingPlan().reset(T, E, k);
            new TopKRouter("deepseek", TopKRouter.Scores.SIGMOID, k, true, 2.5f, groups, used).route(in, p);
            for (int t = 0; t < T; t++) {
                Set<Integer> g = new HashSet<>();
                double sum = 0;
                for (int s = 0; s < p.k(t); s++) {
                    g.add(p.expert(t, s) / (E / groups));
                    sum += p.weight(t, s);
                }
                assertThat(g.size()).isLessThanOrEqualTo(used);
                assertThat(sum).isCloseTo(2.5, within(1e-5)); // renormalised then scaled by 2.5
            }
        }
    }

    @Test
    void mogeBalancesGroupsExactlyAndTopKDoesNot() {
        SplittableRandom r = new SplittableRandom(3);
        int E = 64, groups = 8, T = 16;
        double topkImbalance = 0;
        for (int it = 0; it < 50; it++) {
            RouterInput in = input(r, T, E);
            RoutingPlan p = new RoutingPlan().reset(T, E, 8);
            new MoGERouter("moge", groups, 1).route(in, p);
            assertConsistent(p);
            ExpertLoad load = new ExpertLoad(1, E);
            load.add(0, p);
            assertThat(load.imbalanceScore(0, groups)).isZero();
            for (long g : load.perGroup(0, groups)) assertThat(g).isEqualTo(T);
            // weights are global softmax probabilities: positive, not renormalised, sum below 1
            for (int t = 0; t < T; t++) {
                double s = 0;
                for (int i = 0; i < p.k(t); i++) s += p.weight(t, i);
                assertThat(s).isPositive().isLessThan(1.0);
            }
            RoutingPlan q = new RoutingPlan().reset(T, E, 8);
            new TopKRouter("topk", TopKRouter.Scores.SOFTMAX, 8, false, 1f, 1, 1).route(in, q);
            ExpertLoad l2 = new ExpertLoad(1, E);
            l2.add(0, q);
            topkImbalance += l2.imbalanceScore(0, groups);
        }
        assertThat(topkImbalance / 50).isGreaterThan(0.1); // PAPERS.md §1: plain top-K gives IS > 0 almost surely
    }

    @Test
    void softmaxAfterTopKWeightsAreASoftmaxOverTheChosenLogits() {
        SplittableRandom r = new SplittableRandom(4);
        RouterInput in = input(r, 5, 8);
        RoutingPlan p = new RoutingPlan().reset(5, 8, 2);
        new TopKRouter("x", TopKRouter.Scores.SOFTMAX_AFTER_TOPK, 2, false, 1f, 1, 1).route(in, p);
        for (int t = 0; t < 5; t++) {
            double a = in.logits[t * 8 + p.expert(t, 0)], b = in.logits[t * 8 + p.expert(t, 1)];
            assertThat((double) p.weight(t, 0)).isCloseTo(1 / (1 + Math.exp(b - a)), within(1e-6));
        }
    }
}
