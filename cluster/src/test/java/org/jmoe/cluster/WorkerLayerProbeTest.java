package org.jmoe.cluster;

import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.model.ModelLoader;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The expert layer on worker JVMs, as the calibration probes it for the simulator's local-cpu:workers=D. */
class WorkerLayerProbeTest {
    @Test
    void theProbeRunsTheLayerOnWorkersAndReportsTheirComputeAndRows() throws Exception {
        Path model = RemoteExpertsTest.ref("models/qwen3moe.gguf");
        try (Model m = ModelLoader.load(model)) {
            ModelConfig c = m.config();
            int layer = 0;
            while (!c.isMoeLayer(layer)) layer++;
            int[] sizes = {4, 24};
            List<WorkerLayerProbe.Point> pts = WorkerLayerProbe.measure(model, c, layer, m.layer(layer), 2, sizes, true);
            assertThat(pts).hasSize(sizes.length);
            for (int i = 0; i < sizes.length; i++) {
                WorkerLayerProbe.Point p = pts.get(i);
                assertThat(p.tokens()).isEqualTo(sizes[i]);
                assertThat(p.workers()).isEqualTo(2);
                // every token's k rows, each worker its half of the experts (contiguous), rows as the routing drew them
                assertThat(p.rows()).isEqualTo((long) sizes[i] * c.expertsUsed);
                for (int[] w : p.workerRows()) assertThat(w).hasSize(c.experts / 2);
                java.util.SplittableRandom r = new java.util.SplittableRandom(13);
                org.jmoe.moe.RoutingPlan plan;
                // the probe's routings drawn in order: a few tokens get several (the point reports the first's rows)
                for (int j = 0; j < i; j++) {
                    int n = sizes[j] <= WorkerLayerProbe.FEW_TOKENS ? WorkerLayerProbe.DECODE_PLANS : 1;
                    for (int q = 0; q < n; q++) WorkerLayerProbe.plan(sizes[j], c.experts, c.expertsUsed, r);
                }
                plan = WorkerLayerProbe.plan(sizes[i], c.experts, c.expertsUsed, r);
                for (int e = 0; e < c.experts; e++) assertThat(p.workerRows()[e / (c.experts / 2)][e % (c.experts / 2)]).isEqualTo(plan.load(e));
                // the workers computed (their own clocks) inside the layer's round trip (this process's clock)
                for (int d = 0; d < 2; d++) {
                    boolean any = java.util.Arrays.stream(p.workerRows()[d]).sum() > 0;
                    if (any) assertThat(p.computeMs()[d]).isPositive();
                }
                assertThat(p.wallMs()).isGreaterThanOrEqualTo(p.maxComputeMs());
                assertThat(p.beyondMs()).isPositive().isLessThanOrEqualTo(p.wallMs()); // the transfers take time
            }
        }
        assertThat(ProcessHandle.current().children().filter(h -> h.info().commandLine().orElse("").contains(WorkerMain.class.getName())))
                .isEmpty();
    }
}
