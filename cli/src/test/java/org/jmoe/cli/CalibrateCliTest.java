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
    void calibrateOnAModelStreamsEveryExpertMatrixOfIt(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("cal.json"), model = CliTest.ref("models/qwen3moe.gguf");
        CliTest.Run r = run("calibrate", "--quick", "-t", "2", "-m", model.toString(), "--out", f.toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode mm = new ObjectMapper().readTree(f.toFile()).path("matvec_model");
        try (org.jmoe.model.Model m = org.jmoe.model.ModelLoader.load(model)) {
            org.jmoe.model.ModelConfig c = m.config();
            long bytes = 0;
            int products = 0;
            for (int l = 0; l < c.layers; l++) {
                if (!c.isMoeLayer(l)) continue;
                for (int e = 0; e < c.experts; e++) {
                    var w = m.layer(l);
                    bytes += w.expGate[e].data().byteSize() + w.expUp[e].data().byteSize() + w.expDown[e].data().byteSize();
                    products += 3;
                }
            }
            assertThat(mm.path("products").asInt()).isEqualTo(products);
            assertThat(mm.path("bytes").asLong()).isEqualTo(bytes);
            assertThat(mm.path("dtype").asText()).isEqualTo(m.layer(firstMoe(c)).expGate[0].type().name());
            assertThat(mm.path("gbs").asDouble()).isCloseTo(bytes / (mm.path("ms").asDouble() * 1e6), org.assertj.core.api.Assertions.withinPercentage(2));
            // the decode probe: one token's k experts per MoE layer, all the model's MoE layers in turn
            JsonNode dm = new ObjectMapper().readTree(f.toFile()).path("decode_model");
            int moeLayers = 0;
            for (int l = 0; l < c.layers; l++) if (c.isMoeLayer(l)) moeLayers++;
            var w0 = m.layer(firstMoe(c));
            assertThat(dm.path("layers").asInt()).isEqualTo(moeLayers);
            assertThat(dm.path("top_k").asInt()).isEqualTo(c.expertsUsed);
            assertThat(dm.path("hidden").asInt()).isEqualTo(c.hidden);
            assertThat(dm.path("ffn").asInt()).isEqualTo(c.expertFfn);
            assertThat(dm.path("bytes_per_layer").asLong()).isEqualTo(c.expertsUsed
                    * (w0.expGate[0].data().byteSize() + w0.expUp[0].data().byteSize() + w0.expDown[0].data().byteSize()));
            assertThat(dm.path("ms_per_layer").asDouble()).isPositive();
            assertThat(dm.path("gbs").asDouble()).isCloseTo(dm.path("bytes_per_layer").asDouble() / (dm.path("ms_per_layer").asDouble() * 1e6),
                    org.assertj.core.api.Assertions.withinPercentage(2));
            // the attention probe: a prefill's attention blocks, the core inside them, as rates of their FLOPs
            JsonNode ap = new ObjectMapper().readTree(f.toFile()).path("attention_probe");
            int T = ap.path("tokens").asInt();
            assertThat(T).isBetween(2, 128);
            assertThat(ap.path("layers").asInt()).isEqualTo(c.layers);
            double block = ap.path("block_ms").asDouble(), core = ap.path("core_ms").asDouble();
            assertThat(core).isPositive().isLessThan(block);
            double coreFlops = c.layers * 4.0 * c.heads * c.headDim * (T * (T + 1) / 2.0);
            double projFlops = c.layers * (2.0 * T * c.hidden * (c.qDim() + 2.0 * c.kvDim()) + 2.0 * T * c.qDim() * c.hidden);
            assertThat(ap.path("core_gflops").asDouble()).isCloseTo(coreFlops / (core * 1e6), org.assertj.core.api.Assertions.withinPercentage(1));
            assertThat(ap.path("projection_gflops").asDouble()).isCloseTo(projFlops / ((block - core) * 1e6), org.assertj.core.api.Assertions.withinPercentage(1));
            // the worker probe (two worker JVMs, as --local-workers 2): every row of the batch, half the experts each,
            // each worker's compute inside the layer's time
            JsonNode wp = new ObjectMapper().readTree(f.toFile()).path("expert_kernels").path("worker_points");
            if (Runtime.getRuntime().availableProcessors() >= 2) {
                // the same prefill's attention blocks beside two one-thread devices and beside the two worker JVMs:
                // the same FLOPs, their own times
                for (String key : new String[]{"mesh_attention", "worker_attention"}) {
                    JsonNode b = new ObjectMapper().readTree(f.toFile()).path("expert_kernels").path(key);
                    assertThat(b.path("tokens").asInt()).as(key).isEqualTo(T);
                    double bb = b.path("block_ms").asDouble(), bc = b.path("core_ms").asDouble();
                    assertThat(bc).as(key).isPositive().isLessThan(bb);
                    assertThat(b.path("core_gflops").asDouble()).as(key).isCloseTo(coreFlops / (bc * 1e6), org.assertj.core.api.Assertions.withinPercentage(1));
                    assertThat(b.path("projection_gflops").asDouble()).as(key).isCloseTo(projFlops / ((bb - bc) * 1e6), org.assertj.core.api.Assertions.withinPercentage(1));
                }
                // decode steps alone and through the two devices / the two worker JVMs: attention per step, and each
                // device's compute inside the layer, the rest beyond it
                JsonNode da = new ObjectMapper().readTree(f.toFile()).path("decode_attention");
                assertThat(da.path("steps").asInt()).isPositive();
                assertThat(da.path("attention_ms").asDouble()).isPositive();
                JsonNode wd = new ObjectMapper().readTree(f.toFile()).path("expert_kernels").path("worker_decode");
                assertThat(wd.path("layers").asInt()).isEqualTo(wd.path("steps").asInt() * moeLayers);
                assertThat(wd.path("attention_ms").asDouble()).isPositive();
                JsonNode md = new ObjectMapper().readTree(f.toFile()).path("expert_kernels").path("mesh_decode");
                assertThat(md.path("layers").asInt()).isEqualTo(md.path("steps").asInt() * moeLayers);
                assertThat(md.path("attention_ms").asDouble()).isPositive();
                assertThat(md.path("tokens").asInt()).isEqualTo(1);
                assertThat(md.path("compute_ms").size()).isEqualTo(2);
                double busiest = Math.max(md.path("compute_ms").get(0).asDouble(), md.path("compute_ms").get(1).asDouble());
                assertThat(busiest).isPositive().isLessThanOrEqualTo(md.path("ms").asDouble() + 1e-3);
                assertThat(md.path("beyond_ms").asDouble()).isGreaterThanOrEqualTo(0).isLessThanOrEqualTo(md.path("ms").asDouble() + 1e-3);
                assertThat(wp.size()).isEqualTo(2); // one token (a decode step's layer) and a batch
                assertThat(wp.get(0).path("tokens").asInt()).isEqualTo(1);
                for (JsonNode p : wp) {
                    assertThat(p.path("devices").asInt()).isEqualTo(2);
                    assertThat(p.path("compute_ms").size()).isEqualTo(2);
                    int rows = 0;
                    for (int d = 0; d < 2; d++) {
                        JsonNode dr = p.path("device_rows").get(d);
                        assertThat(dr.size()).isEqualTo(c.experts / 2);
                        int own = 0;
                        for (JsonNode v : dr) own += v.asInt();
                        rows += own;
                        double ms = p.path("compute_ms").get(d).asDouble();
                        assertThat(ms).isLessThanOrEqualTo(p.path("ms").asDouble());
                        if (own > 0) assertThat(ms).isPositive(); else assertThat(ms).isZero();
                    }
                    assertThat(rows).isEqualTo(p.path("tokens").asInt() * c.expertsUsed);
                    assertThat(p.path("beyond_ms").asDouble()).isPositive().isLessThanOrEqualTo(p.path("ms").asDouble());
                }
            } else {
                assertThat(wp.isMissingNode()).isTrue();
            }
        }
    }

    private static int firstMoe(org.jmoe.model.ModelConfig c) {
        int l = 0;
        while (!c.isMoeLayer(l)) l++;
        return l;
    }

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
        // the simulator's local-cpu inputs: GEMM per format, fixed cost and net rate per product, the EPS probe's timings
        for (String t : new String[]{"F32", "F16", "BF16", "Q8_0", "Q4_0"}) {
            assertThat(file.path("gemm_gflops").path(t).asDouble()).as(t).isPositive();
            assertThat(file.path("matvec_call_us").path(t).asDouble()).as(t).isGreaterThanOrEqualTo(0);
            assertThat(file.path("matvec_stream_gbs").path(t).asDouble()).as(t).isPositive();
        }
        assertThat(c.gemmGflops("F32", -1)).isEqualTo(c.gemmGflopsF32());
        JsonNode eps = file.path("eps_chunk_probe");
        assertThat(eps.path("chunks").asInt()).isEqualTo(8);
        assertThat(eps.path("one_ms").asDouble()).isPositive();
        assertThat(eps.path("chunked_ms").asDouble()).isPositive();
        assertThat(file.has("matvec_model")).isFalse(); // no -m: no model to stream
        // the mesh-device probe: the layer on 2 one-thread devices, each with half the experts, all the batch's rows
        JsonNode mesh = file.path("expert_kernels").path("mesh_points");
        assertThat(mesh.size()).isEqualTo(1);
        JsonNode mp = mesh.get(0);
        assertThat(mp.path("devices").asInt()).isEqualTo(2);
        assertThat(mp.path("ms").asDouble()).isPositive();
        int meshRows = 0;
        for (JsonNode d : mp.path("device_rows")) {
            assertThat(d.size()).isEqualTo(file.path("expert_kernels").path("experts").asInt() / 2);
            for (JsonNode v : d) meshRows += v.asInt();
        }
        assertThat(meshRows).isEqualTo(mp.path("tokens").asInt() * file.path("expert_kernels").path("top_k").asInt());
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
