package org.jmoe.cluster;

import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.moe.Placement;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The worker JVMs' sizing, the transport warm-up, and the probe of the expert stage's transport. */
class WorkerLinkProbeTest {
    @Test
    void workerJvmsSeeTheirShareOfTheCoresAndATouchedFixedYoungGeneration() {
        List<String> cmd = LocalWorkers.javaCommand(3, WorkerMain.class);
        assertThat(cmd).contains("-XX:ActiveProcessorCount=3", "-Xmn256m", "-XX:+AlwaysPreTouch", "-XX:LoopUnrollLimit=0");
        assertThat(cmd.getLast()).isEqualTo(WorkerMain.class.getName());
        assertThat(LocalWorkers.jvmSizing(0)).contains("-XX:ActiveProcessorCount=1");
    }

    @Test
    void theProbeMeasuresWorkerJvmsFedByThisProcessAndStopsThem() {
        WorkerLinkProbe.Result r = WorkerLinkProbe.measure(2, 64, true);
        assertThat(r.workers()).isEqualTo(2);
        assertThat(r.rows()).isEqualTo((2 << 20) / (64 * 4));
        assertThat(r.latencyUs()).isPositive();
        assertThat(r.bandwidthGbs()).isPositive();
        assertThat(r.points()).hasSize(WorkerLinkProbe.BUSY_MS.length);
        for (WorkerLinkProbe.Point p : r.points()) {
            assertThat(p.smallMs()).isGreaterThanOrEqualTo(p.busyMs()); // the busy time is inside every round
            assertThat(p.largeMs()).isGreaterThanOrEqualTo(p.busyMs());
        }
        assertThat(ProcessHandle.current().children().filter(h -> h.info().commandLine().orElse("").contains(EchoWorker.class.getName())))
                .isEmpty();
    }

    @Test
    void theTransportWarmUpEchoesToEveryWorker() throws Exception {
        Path model = RemoteExpertsTest.ref("models/qwen3moe.gguf");
        try (Model m = ModelLoader.load(model);
             LocalWorkers w = new LocalWorkers(model, List.of("0-7", "8-15"), 1, 60_000);
             RemoteExperts re = RemoteExperts.connect(m.config(), Placement.contiguous(m.config().experts, 2, 1), w.addresses(), 1, 20_000)) {
            assertThat(re.warmUp(300, 64 << 10)).isPositive();
            assertThat(re.warmUp(0, 1)).isZero();
        }
    }
}
