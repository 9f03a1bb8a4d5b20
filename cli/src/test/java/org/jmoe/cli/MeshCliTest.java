package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.jmoe.cli.CliTest.ref;
import static org.jmoe.cli.CliTest.run;

/** Mesh flags on the model commands and {@code bench-ep}, as a user runs them. */
class MeshCliTest {
    @Test
    void logitsOnAMeshEqualTheSingleDeviceLogits(@TempDir Path dir) throws Exception {
        String m = ref("models/qwen3moe.gguf").toString();
        String ids = RoutingCliTest.TOKENS;
        CliTest.Run one = run("logits", "-m", m, "--tokens", ids, "-o", dir.resolve("a.json").toString());
        assertThat(one.code()).as(one.err()).isZero();
        Path stats = dir.resolve("s.json");
        CliTest.Run r = run("logits", "-m", m, "--tokens", ids, "--devices", "4", "--nodes", "2", "--schedule", "eps", "--chunks", "3",
                "--stats", stats.toString(), "-o", dir.resolve("b.json").toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode a = new ObjectMapper().readTree(dir.resolve("a.json").toFile()).get("logits");
        JsonNode b = new ObjectMapper().readTree(dir.resolve("b.json").toFile()).get("logits");
        assertThat(b).isEqualTo(a); // bit-identical: the same kernels and order per row on every device
        // the statistics carry per-layer, per-device stage times, and the report draws them
        JsonNode st = new ObjectMapper().readTree(stats.toFile()).path("stage_times");
        assertThat(st.path("schedule").asText()).isEqualTo("eps");
        assertThat(st.path("chunks").asInt()).isEqualTo(3);
        assertThat(st.path("devices")).hasSize(4);
        assertThat(st.path("layers").size()).isPositive();
        for (JsonNode l : st.path("layers")) {
            assertThat(l.path("devices")).hasSize(4);
            assertThat(l.path("route_ms").asDouble()).isPositive();
            double compute = 0;
            for (JsonNode d : l.path("devices")) compute += d.path("compute_ms").asDouble();
            assertThat(compute).isPositive();
        }
        CliTest.Run rep = run("report", "--stats", stats.toString(), "-o", dir.resolve("rep").toString());
        assertThat(rep.code()).as(rep.err()).isZero();
        assertThat(dir.resolve("rep/stages.png")).isNotEmptyFile();
        // a balanced placement from the recorded loads also gives the same logits
        CliTest.Run bal = run("logits", "-m", m, "--tokens", ids, "--devices", "4", "--placement", "balanced", "--loads", stats.toString(),
                "-o", dir.resolve("c.json").toString());
        assertThat(bal.code()).as(bal.err()).isZero();
        assertThat(new ObjectMapper().readTree(dir.resolve("c.json").toFile()).get("logits")).isEqualTo(a);
    }

    @Test
    void logitsOverLocalWorkerJvmsEqualTheSingleDeviceLogits(@TempDir Path dir) throws Exception {
        String m = ref("models/qwen3moe.gguf").toString();
        String ids = RoutingCliTest.TOKENS;
        CliTest.Run one = run("logits", "-m", m, "--tokens", ids, "-o", dir.resolve("a.json").toString());
        assertThat(one.code()).as(one.err()).isZero();
        JsonNode a = new ObjectMapper().readTree(dir.resolve("a.json").toFile()).get("logits");
        String[][] meshes = {{"--devices", "2", "--local-workers", "2"}, {"--devices", "4", "--local-workers", "2", "--schedule", "eps"},
                {"--devices", "4", "--local-workers", "2", "--schedule", "eps", "--chunks", "3", "--expert-kernel", "grouped"}};
        for (String[] mesh : meshes) {
            Path out = dir.resolve("g.json");
            String[] args = new String[7 + mesh.length];
            System.arraycopy(new String[]{"logits", "-m", m, "--tokens", ids, "-o", out.toString()}, 0, args, 0, 7);
            System.arraycopy(mesh, 0, args, 7, mesh.length);
            CliTest.Run r = run(args);
            assertThat(r.code()).as(String.join(" ", mesh) + ": " + r.err()).isZero();
            // raw float bits on the wire, the same kernels per row in the worker: bit-identical
            assertThat(new ObjectMapper().readTree(out.toFile()).get("logits")).as(String.join(" ", mesh)).isEqualTo(a);
        }
    }

    @Test
    void benchEpOverWorkerJvmsReportsTheGrpcTransport() throws Exception {
        CliTest.Run r = run("bench-ep", "-m", ref("models/qwen3moe.gguf").toString(), "--devices", "2", "--local-workers", "2",
                "--schedules", "serial,eps", "-p", "24", "-n", "2", "-r", "1", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode o = new ObjectMapper().readTree(r.out());
        assertThat(o.get("transport").asText()).isEqualTo("grpc");
        for (JsonNode x : o.get("runs")) {
            assertThat(x.get("transport").asText()).isEqualTo("grpc");
            assertThat(x.get("pp_tokens_per_s").asDouble()).isPositive();
            assertThat(x.get("overlap_fraction").asDouble()).isBetween(0.0, 1.0);
        }
    }

    @Test
    void benchEpReportsEveryScheduleAndRouterWithTheDocumentedKeys() throws Exception {
        CliTest.Run r = run("bench-ep", "-m", ref("models/qwen3moe.gguf").toString(), "--devices", "4", "--schedules", "serial,eps",
                "--routers", "native,moge:groups=4", "-p", "32", "-n", "2", "-r", "1", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode runs = new ObjectMapper().readTree(r.out()).get("runs");
        assertThat(runs).hasSize(4);
        for (JsonNode x : runs) {
            for (String k : new String[]{"schedule", "router", "devices", "transport", "pp_tokens_per_s", "tg_tokens_per_s", "device_busy_max_over_mean", "overlap_fraction"}) {
                assertThat(x.has(k)).as(k).isTrue();
            }
            assertThat(x.get("pp_tokens_per_s").asDouble()).isPositive();
            assertThat(x.get("devices").asInt()).isEqualTo(4);
        }
        assertThat(runs.get(0).get("schedule").asText()).isEqualTo("serial");
        assertThat(runs.get(1).get("schedule").asText()).isEqualTo("eps");
        assertThat(runs.get(2).get("router").asText()).isEqualTo("moge:groups=4");
    }

    @Test
    void badMeshFlagsAreOneLineErrors(@TempDir Path dir) {
        String m = ref("models/qwen3moe.gguf").toString();
        String[][] cases = {{"--devices", "2", "--schedule", "fast"}, {"--devices", "2", "--transport", "carrier-pigeon"},
                {"--devices", "2", "--placement", "balanced"}, {"--devices", "2", "--chunks", "0", "--schedule", "eps"},
                {"--devices", "2", "--loads", dir.resolve("x.json").toString()}, {"--devices", "2", "--transport", "grpc"},
                {"--devices", "4", "--local-workers", "3"}, {"--devices", "2", "--local-workers", "2", "--peers", "127.0.0.1:1"},
                {"--devices", "2", "--peers", "127.0.0.1:1,127.0.0.1:2", "--deadline", "2000"}, {"--devices", "2", "--peers", "nohost"},
                {"--devices", "2", "--schedule", "eps", "--chunks", "many"}, {"--devices", "2", "--expert-kernel", "fastest"}};
        for (String[] c : cases) {
            String[] args = new String[7 + c.length];
            String[] head = {"logits", "-m", m, "--tokens", "1,2,3", "-o", dir.resolve("o.json").toString()};
            System.arraycopy(head, 0, args, 0, 7);
            System.arraycopy(c, 0, args, 7, c.length);
            CliTest.Run r = run(args);
            assertThat(r.code()).as(String.join(" ", c)).isEqualTo(1);
            assertThat(r.err().strip()).as(String.join(" ", c)).startsWith("jmoe: ").doesNotContain("Exception");
            assertThat(dir.resolve("o.json")).doesNotExist();
        }
    }
}
