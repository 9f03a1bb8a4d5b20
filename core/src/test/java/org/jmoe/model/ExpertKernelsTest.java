package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Grouped and dense expert kernels give every row the same bits, for every dtype, load and thread count. */
class ExpertKernelsTest {
    static Path ref(String rel) {
        return Path.of(System.getProperty("jmoe.reference", "../../shared/reference")).resolve(rel).toAbsolutePath().normalize();
    }

    @Test
    void groupedAndDenseAreBitIdenticalOnEveryDtypeAndLoad() {
        SplittableRandom r = new SplittableRandom(11);
        for (String model : new String[]{"models/qwen3moe.gguf", "models/olmoe_q8_0.gguf", "models/qwen2moe_q4_0.gguf", "models/pangu_tiny64"}) {
            try (Model m = ModelLoader.load(ref(model)); Parallel p3 = new Parallel(3)) {
                ModelConfig c = m.config();
                LayerWeights w = null;
                for (int l = 0; l < c.layers && w == null; l++) if (c.isMoeLayer(l)) w = m.layer(l);
                int H = c.hidden;
                for (int trial = 0; trial < 6; trial++) {
                    int n = 1 + r.nextInt(Math.min(c.experts, 9));
                    int[] experts = new int[n], start = new int[n], count = new int[n];
                    int rows = 0;
                    for (int i = 0; i < n; i++) {
                        experts[i] = r.nextInt(c.experts);
                        start[i] = rows;
                        count[i] = 1 + r.nextInt(i == 0 ? 40 : 6); // one heavy expert, then light ones
                        rows += count[i];
                    }
                    float[] x = new float[rows * H];
                    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
                    float[] want = new float[rows * H];
                    new ExpertKernels(H, c.expertFfn).run(w, experts, start, count, n, x, want, Parallel.SERIAL, ExpertKernels.Choice.DENSE);
                    for (ExpertKernels.Choice ch : ExpertKernels.Choice.values()) {
                        float[] got = new float[rows * H];
                        new ExpertKernels(H, c.expertFfn).run(w, experts, start, count, n, x, got, p3, ch);
                        assertThat(got).as(model + " " + ch + " n=" + n).containsExactly(want);
                    }
                }
            }
        }
    }

    @Test
    void autoFollowsTheCalibratedCrossover() {
        double old = ExpertKernels.crossover();
        try {
            ExpertKernels.setCrossover(1.5);
            assertThat(ExpertKernels.groupedFor(ExpertKernels.Choice.AUTO, 2, 2)).isFalse(); // 1 per thread < 1.5
            assertThat(ExpertKernels.groupedFor(ExpertKernels.Choice.AUTO, 3, 2)).isTrue();  // 1.5 per thread
            assertThat(ExpertKernels.groupedFor(ExpertKernels.Choice.AUTO, 64, 1)).isFalse(); // one thread: nothing to group over
            assertThat(ExpertKernels.groupedFor(ExpertKernels.Choice.GROUPED, 1, 4)).isFalse(); // a single expert cannot be grouped
            assertThat(ExpertKernels.groupedFor(ExpertKernels.Choice.DENSE, 64, 4)).isFalse();
            assertThatThrownBy(() -> ExpertKernels.setCrossover(0)).isInstanceOf(JmoeException.class);
            assertThatThrownBy(() -> ExpertKernels.Choice.parse("fast")).hasMessageContaining("auto, grouped or dense");
            // measured on F32 experts: applies to F32, other formats keep the default
            ExpertKernels.setCrossover(18.5, org.jmoe.tensor.DType.F32);
            assertThat(ExpertKernels.crossoverFor(org.jmoe.tensor.DType.F32)).isEqualTo(18.5);
            assertThat(ExpertKernels.crossoverFor(org.jmoe.tensor.DType.Q4_0)).isEqualTo(ExpertKernels.DEFAULT_CROSSOVER);
            assertThat(ExpertKernels.groupedFor(ExpertKernels.Choice.AUTO, 8, 2, org.jmoe.tensor.DType.F32)).isFalse();
            assertThat(ExpertKernels.groupedFor(ExpertKernels.Choice.AUTO, 8, 2, org.jmoe.tensor.DType.Q4_0)).isTrue();
        } finally {
            ExpertKernels.setCrossover(old);
        }
    }
}
