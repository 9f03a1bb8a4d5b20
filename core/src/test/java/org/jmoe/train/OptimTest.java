package org.jmoe.train;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** AdamW, the learning-rate schedule and global-norm clipping against hand-computed values. */
class OptimTest {
    private static ParamTensors params() {
        return new ParamTensors(new TrainConfig(4, 2, 1, 1, 1, 2, 1, 1, 1, 0, true, 2, 1, 10000, 1e-5f));
    }

    @Test
    void adamWFirstStepsMatchTheFormula() {
        ParamTensors p = params();
        AdamW opt = new AdamW(p, 0.9, 0.95, 1e-8, 0.1);
        java.util.Arrays.fill(p.values, 0.5f);
        float[] g = new float[p.size()];
        java.util.Arrays.fill(g, 2f);
        int matrix = p.slots().get("model.embed_tokens.weight").offset();
        int norm = p.slots().get("model.norm.weight").offset();
        opt.step(p.values, g, 0.01);
        // Step 1: m̂ = g, v̂ = g², so the update is lr·(sign(g)·|g|/(|g|+ε) + λθ) on matrices, without λθ on norms.
        assertThat((double) p.values[matrix]).isCloseTo(0.5 - 0.01 * (1 + 0.1 * 0.5), within(1e-6));
        assertThat((double) p.values[norm]).isCloseTo(0.5 - 0.01, within(1e-6));
        // Step 2 with the same gradient: m̂ and v̂ are still g and g² after bias correction.
        float before = p.values[norm];
        opt.step(p.values, g, 0.01);
        assertThat((double) p.values[norm]).isCloseTo(before - 0.01, within(1e-6));
        assertThat(opt.t).isEqualTo(2);
    }

    @Test
    void warmupThenCosineDecay() {
        LrSchedule s = new LrSchedule(1.0, 10, 110, 0.1);
        assertThat(s.at(0)).isCloseTo(0.1, within(1e-12));
        assertThat(s.at(9)).isCloseTo(1.0, within(1e-12));
        assertThat(s.at(10)).isCloseTo(1.0, within(1e-12));
        assertThat(s.at(60)).isCloseTo(0.1 + 0.9 * 0.5, within(1e-12));
        assertThat(s.at(110)).isCloseTo(0.1, within(1e-12));
        for (int i = 11; i <= 110; i++) assertThat(s.at(i)).isLessThanOrEqualTo(s.at(i - 1));
    }

    @Test
    void clippingScalesToTheMaximumNorm() {
        float[] g = {3, 4};
        assertThat(GradClip.clip(g, 1.0)).isCloseTo(5.0, within(1e-12));
        assertThat((double) g[0]).isCloseTo(0.6, within(1e-7));
        assertThat((double) g[1]).isCloseTo(0.8, within(1e-7));
        float[] small = {0.3f, 0.4f};
        GradClip.clip(small, 1.0);
        assertThat(small).containsExactly(0.3f, 0.4f);
    }
}
