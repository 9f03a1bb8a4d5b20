package org.jmoe.model;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SamplerTest {
    static final float[] LOGITS = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f};

    static int[] histogram(Sampler.Options o, int draws) {
        Sampler s = new Sampler(o);
        int[] h = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) h[s.sample(LOGITS, 0, LOGITS.length, new int[0], 0)]++;
        return h;
    }

    @Test
    void greedyIsArgmax() {
        assertThat(new Sampler(Sampler.Options.greedy()).sample(LOGITS, 0, 5, new int[0], 0)).isEqualTo(1);
    }

    @Test
    void temperatureOneFollowsTheSoftmax() {
        int n = 40_000;
        int[] h = histogram(new Sampler.Options(1f, 0, 1f, 0f, 1f, 64, 7), n);
        double z = 0;
        for (float l : LOGITS) z += Math.exp(l);
        for (int i = 0; i < LOGITS.length; i++) {
            double p = Math.exp(LOGITS[i]) / z;
            double sd = Math.sqrt(n * p * (1 - p));
            assertThat((double) h[i]).as("token %d", i).isCloseTo(n * p, org.assertj.core.data.Offset.offset(5 * sd)); // 5 sigma
        }
    }

    @Test
    void topKTopPAndMinPTruncate() {
        // top-k 2 keeps tokens 1 and 4 only
        int[] h = histogram(new Sampler.Options(1f, 2, 1f, 0f, 1f, 64, 1), 5000);
        assertThat(h[0] + h[2] + h[3]).isZero();
        assertThat(h[1]).isPositive();
        assertThat(h[4]).isPositive();
        // probabilities sorted: p1=.41 p4=.37 p2=.15 p0=.06 p3=.03; top-p .7 keeps the prefix reaching .7: {1, 4}
        h = histogram(new Sampler.Options(1f, 0, 0.7f, 0f, 1f, 64, 2), 5000);
        assertThat(h[0] + h[2] + h[3]).isZero();
        // min-p .3: keep p >= .3 * p1 = .124: {1, 4, 2}
        h = histogram(new Sampler.Options(1f, 0, 1f, 0.3f, 1f, 64, 3), 5000);
        assertThat(h[0] + h[3]).isZero();
        assertThat(h[2]).isPositive();
    }

    @Test
    void sameSeedSameTokens() {
        assertThat(histogram(new Sampler.Options(0.9f, 0, 1f, 0f, 1f, 64, 99), 500))
                .containsExactly(histogram(new Sampler.Options(0.9f, 0, 1f, 0f, 1f, 64, 99), 500));
    }

    @Test
    void repetitionPenaltyDividesPositiveLogits() {
        // token 1 (3.0) penalised by 2 -> 1.5, so greedy picks token 4 (2.9)
        Sampler s = new Sampler(new Sampler.Options(0f, 0, 1f, 0f, 2f, 64, 0));
        assertThat(s.sample(LOGITS, 0, 5, new int[]{1}, 1)).isEqualTo(4);
    }

    @Test
    void badSettingsAreRefused() {
        assertThatThrownBy(() -> new Sampler.Options(-1f, 0, 1f, 0f, 1f, 64, 0)).hasMessageContaining("temp");
        assertThatThrownBy(() -> new Sampler.Options(1f, 0, 0f, 0f, 1f, 64, 0)).hasMessageContaining("top-p");
        assertThatThrownBy(() -> new Sampler.Options(1f, 0, 1f, 1f, 1f, 64, 0)).hasMessageContaining("min-p");
    }

    @Test
    void candidatesAreTheLargestValuesInOrderTiesToLowerIds() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (int it = 0; it < 300; it++) {
            int V = 1 + r.nextInt(600);
            float[] v = new float[V];
            for (int i = 0; i < V; i++) v[i] = r.nextInt(4) == 0 ? (float) r.nextInt(5) - 2 : (float) r.nextGaussian() * 100;
            int n = 1 + r.nextInt(V);
            Integer[] all = new Integer[V];
            for (int i = 0; i < V; i++) all[i] = i;
            java.util.Arrays.sort(all, (a, b) -> v[a] != v[b] ? Float.compare(v[b], v[a]) : Integer.compare(a, b));
            int[] want = new int[n];
            for (int i = 0; i < n; i++) want[i] = all[i];
            assertThat(Sampler.candidates(v, V, n)).containsExactly(want);
        }
    }
}
