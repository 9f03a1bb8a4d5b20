package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.calibrate.Calibration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.jmoe.cli.CliTest.ref;
import static org.jmoe.cli.CliTest.run;

/** {@code jmoe calibrate} writes a file the engine reads; a bad file is a one-line error for every model command. */
class CalibrateCliTest {
    @Test
    void calibrateWritesAReadableFileWhoseCrossoverFollowsItsOwnSweep(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("cal.json");
        CliTest.Run r = run("calibrate", "--quick", "-t", "2", "--out", f.toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode printed = new ObjectMapper().readTree(r.out());
        JsonNode file = new ObjectMapper().readTree(f.toFile());
        assertThat(printed).isEqualTo(file);
        Calibration c = Calibration.read(f);
        assertThat(c.threads()).isEqualTo(2);
        for (String t : new String[]{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"}) assertThat(c.matvecGbs().get(t)).as(t).isPositive();
        assertThat(c.transport("local").latencyUs()).isPositive();
        assertThat(c.transport("grpc").bandwidthGbs()).isPositive();
        // the crossover is the smallest active-per-thread from which grouped is never slower in the recorded sweep
        JsonNode pts = file.path("expert_kernels").path("points");
        assertThat(pts.size()).isGreaterThanOrEqualTo(4);
        double x = c.groupedMinActivePerThread();
        for (JsonNode p : pts) {
            if (p.path("active_per_thread").asDouble() >= x) {
                assertThat(p.path("grouped_ms").asDouble()).as("point %s", p).isLessThanOrEqualTo(p.path("dense_ms").asDouble());
            }
        }
    }

    @Test
    void aBadCalibrationFileStopsModelCommandsWithOneLine(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("cal.json");
        Files.writeString(bad, """
                {"format": "jmoe-calibration/1", "threads": 2, "peak_gflops_f32": -5, "gemm_gflops_f32": 50, "memory_bandwidth_gbs": 20,
                 "matvec_gbs": {"F32": 15}, "expert_kernels": {"grouped_min_active_per_thread": 2},
                 "transport": {"local": {"latency_us": 5, "bandwidth_gbs": 8}}, "eps_chunk_overhead_us": 40}
                """);
        String old = System.getProperty("jmoe.calibration");
        System.setProperty("jmoe.calibration", bad.toString());
        try {
            CliTest.Run r = run("logits", "-m", ref("models/qwen3moe.gguf").toString(), "--tokens", "1,2", "-o", dir.resolve("o.json").toString());
            assertThat(r.code()).isEqualTo(1);
            assertThat(r.err().strip()).startsWith("jmoe: " + bad).contains("peak_gflops_f32").doesNotContain("Exception");
            assertThat(dir.resolve("o.json")).doesNotExist();
        } finally {
            if (old == null) System.clearProperty("jmoe.calibration"); else System.setProperty("jmoe.calibration", old);
        }
        CliTest.Run d = run("calibrate", "--quick", "--out", dir.toString());
        assertThat(d.code()).isEqualTo(1);
        assertThat(d.err()).contains("is a directory");
    }
}
