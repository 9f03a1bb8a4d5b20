package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.jmoe.cli.CliTest.ref;
import static org.jmoe.cli.CliTest.run;

/** Router overrides, routing statistics, {@code route} and {@code report} as a user runs them. */
class RoutingCliTest {
    static final String TOKENS = java.util.stream.IntStream.range(0, 64).map(i -> (i * 37 + 11) % 500).mapToObj(Integer::toString)
            .collect(java.util.stream.Collectors.joining(","));

    @Test
    void routeComparesRoutersWithTheDocumentedJsonKeys() throws Exception {
        CliTest.Run r = run("route", "-m", ref("models/qwen3moe.gguf").toString(), "--tokens", TOKENS,
                "--routers", "native,topk:k=2,moge:groups=4,adak:threshold=0.5,switch,hash,locmoe:nodes=2", "--devices", "4", "--nodes", "2", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        JsonNode rs = j.get("routers");
        assertThat(rs).hasSize(7);
        for (JsonNode x : rs) {
            for (String k : new String[]{"name", "imbalance_score", "max_over_mean", "mean_k", "cross_device_bytes", "cross_node_bytes", "kl_vs_native", "top1_agreement"}) {
                assertThat(x.has(k)).as(k).isTrue();
            }
        }
        assertThat(rs.get(0).get("name").asText()).isEqualTo("native");
        assertThat(rs.get(0).get("kl_vs_native").asDouble()).isZero();
        assertThat(rs.get(0).get("top1_agreement").asDouble()).isEqualTo(1.0);
        assertThat(rs.get(0).get("mean_k").asDouble()).isEqualTo(4.0);
        assertThat(rs.get(1).get("name").asText()).isEqualTo("topk:k=2");
        assertThat(rs.get(1).get("mean_k").asDouble()).isEqualTo(2.0);
        assertThat(rs.get(1).get("kl_vs_native").asDouble()).isPositive();
        assertThat(rs.get(2).get("imbalance_score").asDouble()).isZero();               // MoGE over 4 devices
        assertThat(rs.get(2).get("max_over_mean").asDouble()).isEqualTo(1.0);
        assertThat(rs.get(0).get("imbalance_score").asDouble()).isPositive();            // the model's top-4 is not balanced
        assertThat(rs.get(4).get("mean_k").asDouble()).isLessThanOrEqualTo(1.0);         // switch: top-1 with drops
        // LocMoE keeps more traffic on the node than the model's top-4 per assignment
        double locPerAssign = rs.get(6).get("cross_node_bytes").asDouble() / rs.get(6).get("mean_k").asDouble();
        double natPerAssign = rs.get(0).get("cross_node_bytes").asDouble() / rs.get(0).get("mean_k").asDouble();
        assertThat(locPerAssign).isLessThan(natPerAssign);
    }

    @Test
    void adaKWithAnAllocatorFileVariesKPerToken(@TempDir Path dir) throws Exception {
        // qwen3moe reference: 3 layers, 16 experts, hidden 64; random allocators (scale 8 spreads the argmax).
        Path alloc = dir.resolve("alloc.safetensors");
        org.jmoe.moe.AdaKAllocators.random(3, new boolean[]{true, true, true}, 16, 64, 42, 8.0).write(alloc);
        Path stats = dir.resolve("s.json");
        CliTest.Run r = run("logits", "-m", ref("models/qwen3moe.gguf").toString(), "--tokens", TOKENS,
                "--router", "adak:allocators=" + alloc, "--stats", stats.toString(), "-o", dir.resolve("l.json").toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode s = new ObjectMapper().readTree(stats.toFile());
        assertThat(s.get("max_k").asInt()).isEqualTo(16);
        int distinct = 0;
        for (JsonNode l : s.get("summary").get("layers")) {
            long tokens = 0;
            JsonNode h = l.get("k_histogram");
            assertThat(h.get(0).asLong()).isZero(); // k* >= 1
            for (JsonNode v : h) { tokens += v.asLong(); if (v.asLong() > 0) distinct++; }
            assertThat(tokens).isEqualTo(64);
        }
        assertThat(distinct).isGreaterThan(3);
        // a file for another shape is refused with its tensor named
        Path other = dir.resolve("other.safetensors");
        org.jmoe.moe.AdaKAllocators.random(3, new boolean[]{true, true, true}, 8, 64, 1, 1.0).write(other);
        CliTest.Run bad = run("logits", "-m", ref("models/qwen3moe.gguf").toString(), "--tokens", "1,2", "--router", "adak:allocators=" + other,
                "-o", dir.resolve("x.json").toString());
        assertThat(bad.code()).isEqualTo(1);
        assertThat(bad.err()).contains("layers.0.allocator.weight").contains("[16, 64]");
    }

    @Test
    void nativeEquivalentSpecsReproduceTheReferenceLogits(@TempDir Path dir) throws Exception {
        // "moge" on Pangu and "topk" on Qwen3-MoE are the models' own routers: same logits as llama.cpp / the float64 reference.
        for (String[] c : new String[][]{{"models/pangu_tiny64", "moge", "logits/pangu_tiny64_8.json"}, {"models/qwen3moe.gguf", "topk", "logits/qwen3moe_8.json"}}) {
            JsonNode want = new ObjectMapper().readTree(ref(c[2]).toFile());
            StringBuilder ids = new StringBuilder();
            for (JsonNode t : want.get("tokens")) ids.append(ids.isEmpty() ? "" : ",").append(t.asInt());
            Path out = dir.resolve("l.json");
            CliTest.Run r = run("logits", "-m", ref(c[0]).toString(), "--tokens", ids.toString(), "--router", c[1], "-o", out.toString());
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.err()).doesNotContain("warning");
            JsonNode got = new ObjectMapper().readTree(out.toFile()).get("logits");
            for (int t = 0; t < got.size(); t++) {
                for (int v = 0; v < got.get(t).size(); v++) {
                    // F32 engine vs the reference (float64-verified): ~1e-4 (README of the reference)
                    assertThat(got.get(t).get(v).asDouble()).isCloseTo(want.get("logits").get(t).get(v).asDouble(), within(2e-4));
                }
            }
        }
    }

    @Test
    void statsFileFollowsTheTraceFormatAndReportDrawsIt(@TempDir Path dir) throws Exception {
        Path stats = dir.resolve("s.json"), out = dir.resolve("l.json");
        CliTest.Run r = run("logits", "-m", ref("models/qwen3moe.gguf").toString(), "--tokens", TOKENS, "--router", "moge:groups=4",
                "--devices", "4", "--nodes", "2", "--stats", stats.toString(), "-o", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("warning: routing with moge:groups=4, not the model's own router");
        JsonNode s = new ObjectMapper().readTree(stats.toFile());
        assertThat(s.get("format").asText()).isEqualTo("jmoe-routing-stats/1");
        assertThat(s.get("router").asText()).isEqualTo("moge:groups=4");
        assertThat(s.get("mesh").get("expert_device")).hasSize(16);
        JsonNode step = s.get("steps").get(0);
        assertThat(step.get("tokens").asInt()).isEqualTo(64);
        assertThat(step.get("layers")).hasSize(3);
        for (JsonNode l : step.get("layers")) {
            long sum = 0;
            for (JsonNode v : l.get("expert_tokens")) sum += v.asLong();
            assertThat(sum).isEqualTo(64 * 4);
            for (JsonNode v : l.get("device_tokens")) assertThat(v.asLong()).isEqualTo(64);   // MoGE: K' = 1 per group
            assertThat(l.get("k_histogram").get(4).asLong()).isEqualTo(64);
            assertThat(l.get("imbalance_score").asDouble()).isZero();
            // Home devices: tokens 0-15 on device 0 ... each token sends 3 of its 4 rows off-device, 2 of them off-node.
            assertThat(l.get("cross_device_bytes").asLong()).isEqualTo(64L * 3 * 2 * 64 * 4);
            assertThat(l.get("cross_node_bytes").asLong()).isEqualTo(64L * 2 * 2 * 64 * 4);
        }
        Path rep = dir.resolve("report");
        CliTest.Run rr = run("report", "--stats", stats.toString(), "-o", rep.toString());
        assertThat(rr.code()).as(rr.err()).isZero();
        assertThat(Files.readString(rep.resolve("index.html"))).contains("moge:groups=4").contains("heatmap.png");
        for (String f : RoutingReport.FILES) {
            BufferedImage img = ImageIO.read(rep.resolve(f).toFile());
            assertThat(img).as(f).isNotNull();
            assertThat(img.getWidth()).isGreaterThan(300);
        }
    }

    @Test
    void badRouterSpecsAndStatsFilesAreOneLineErrors(@TempDir Path dir) throws Exception {
        String m = ref("models/qwen3moe.gguf").toString();
        String[][] cases = {
                {"--router", "nope"}, {"--router", "topk:k=0"}, {"--router", "moge:groups=5"}, {"--router", "adak:allocators=" + dir.resolve("missing.safetensors")},
                {"--router", "locmoe:min_ratio=2"}, {"--router", "switch:cf=-1"}, {"--router", "hash:weights=odd"}, {"--router", "topk:x=1"},
                {"--devices", "0"}, {"--devices", "4", "--nodes", "3"}, {"--placement", "spiral"}};
        for (String[] c : cases) {
            String[] args = new String[5 + c.length];
            args[0] = "logits"; args[1] = "-m"; args[2] = m; args[3] = "--tokens"; args[4] = "1,2,3";
            System.arraycopy(c, 0, args, 5, c.length);
            String[] full = java.util.Arrays.copyOf(args, args.length + 2);
            full[args.length] = "-o";
            full[args.length + 1] = dir.resolve("x.json").toString();
            CliTest.Run r = run(full);
            assertThat(r.code()).as(String.join(" ", c)).isEqualTo(1);
            String err = r.err().strip();
            assertThat(err).as(String.join(" ", c)).startsWith("jmoe: ").doesNotContain("Exception").doesNotContain("\tat ");
            assertThat(err.lines().filter(l -> l.startsWith("jmoe: ") && !l.contains("warning")).count()).isEqualTo(1);
            assertThat(dir.resolve("x.json")).doesNotExist();
        }
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{\"format\": \"something-else\"}");
        CliTest.Run r = run("report", "--stats", bad.toString(), "-o", dir.resolve("rep").toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("not a jmoe routing statistics file");
    }
}
