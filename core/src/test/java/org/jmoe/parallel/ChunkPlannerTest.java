package org.jmoe.parallel;

import org.jmoe.JmoeException;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The EPS chunk count: N* = sqrt(C/k) minimises C/N + N k; auto mode learns C from measured layers. */
class ChunkPlannerTest {
    @Test
    void optimalMinimisesTheCostModelOverIntegers() {
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 2000; i++) {
            double c = Math.exp(r.nextDouble(0, 20)), k = Math.exp(r.nextDouble(0, 12));
            int n = ChunkPlanner.optimal(c, k, 1 << 20);
            double best = Double.MAX_VALUE;
            for (int m = 1; m <= 5000; m++) best = Math.min(best, c / m + m * k);
            double cost = c / n + n * k;
            // rounding sqrt(C/k) to the nearest integer is within 1/8 of the integer optimum's cost
            // (the cost is convex in N; the worst case is N* between 1 and 2)
            assertThat(cost).as("C=%s k=%s n=%d", c, k, n).isLessThanOrEqualTo(best * 1.125 + 1e-9);
        }
        assertThat(ChunkPlanner.optimal(100e6, 1e6, 64)).isEqualTo(10);
        assertThat(ChunkPlanner.optimal(100e6, 1e3, 64)).isEqualTo(64); // capped
        assertThat(ChunkPlanner.optimal(0, 1e3, 64)).isEqualTo(1);
    }

    @Test
    void autoStartsWithOneChunkThenSizesFromMeasuredTimes() {
        ChunkPlanner p = ChunkPlanner.auto(100); // k = 100 us
        assertThat(p.chunks(512)).isEqualTo(1);  // nothing measured yet
        // 512 tokens: 40 ms of communication, 90 ms of compute -> C = 40 ms -> sqrt(40e6 / 1e5) = 20
        p.observe(512, 40_000_000, 90_000_000);
        assertThat(p.chunks(512)).isEqualTo(20);
        assertThat(p.chunks(8)).isEqualTo(Math.round(Math.sqrt(8 * 40e6 / 512 / 1e5))); // C scales with tokens
        assertThat(p.chunks(1)).isEqualTo(1);
        assertThat(p.lastChunks()).isEqualTo(1);
    }

    @Test
    void fixedCountsAreCappedAtTheTokensAndValidated() {
        assertThat(ChunkPlanner.fixed(4).chunks(3)).isEqualTo(3);
        assertThat(ChunkPlanner.parse("6", 50).chunks(100)).isEqualTo(6);
        assertThat(ChunkPlanner.parse("auto", 50).isAuto()).isTrue();
        assertThatThrownBy(() -> ChunkPlanner.parse("0", 50)).isInstanceOf(JmoeException.class).hasMessageContaining("--chunks");
        assertThatThrownBy(() -> ChunkPlanner.parse("lots", 50)).isInstanceOf(JmoeException.class).hasMessageContaining("lots");
    }
}
