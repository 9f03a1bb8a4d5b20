package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.jmoe.cli.CliTest.ref;
import static org.jmoe.cli.CliTest.run;

/** {@code jmoe sim} and {@code jmoe plan} as a user runs them. */
class SimCliTest {
    static JsonNode json(CliTest.Run r) throws Exception {
        assertThat(r.code()).as(r.err()).isZero();
        return new ObjectMapper().readTree(r.out());
    }

    @Test
    void simJsonHasTheDocumentedKeys() throws Exception {
        JsonNode j = json(run("sim", "--model", "pangu-pro-moe", "--hardware", "ascend-300i-duo", "--cards", "4", "--phase", "decode",
                "--batch", "64", "--seq", "2048", "--plan", "attn=dp2xtp4,experts=tp2xep4,shared=tp8", "--json"));
        for (String k : new String[]{"plan", "step_ms", "tokens_per_s", "tokens_per_s_per_card", "ttft_ms", "tpot_ms", "memory_per_device_gb", "fits", "breakdown_ms"}) {
            assertThat(j.has(k)).as(k).isTrue();
        }
        assertThat(j.get("plan").asText()).isEqualTo("attn=dp2xtp4,experts=tp2xep4,shared=tp8");
        assertThat(j.get("tpot_ms").asDouble()).isEqualTo(j.get("step_ms").asDouble());
        assertThat(j.get("tokens_per_s").asDouble()).isCloseTo(64 / (j.get("step_ms").asDouble() / 1e3), within(1e-6));
        assertThat(j.get("tokens_per_s_per_card").asDouble()).isCloseTo(j.get("tokens_per_s").asDouble() / 4, within(1e-9));
        double sum = 0;
        for (JsonNode v : j.get("breakdown_ms")) sum += v.asDouble();
        assertThat(sum).isCloseTo(j.get("step_ms").asDouble(), within(1e-6));
        assertThat(j.get("breakdown_ms").has("experts")).isTrue();
        assertThat(j.get("fits").asBoolean()).isTrue();
        // defaults: attention dp and experts ep over every device, native router, the published dtype
        JsonNode d = json(run("sim", "--model", "pangu-pro-moe", "--hardware", "ascend-800i-a2", "--cards", "4", "--batch", "8", "--json"));
        assertThat(d.get("plan").asText()).isEqualTo("attn=dp4,experts=ep4,shared=dp4");
        assertThat(d.get("router").asText()).isEqualTo("native");
        // prefill: TTFT is the step, no TPOT
        JsonNode p = json(run("sim", "--model", "mixtral-8x7b", "--hardware", "h100", "--cards", "8", "--phase", "prefill", "--batch", "4", "--seq", "1024", "--json"));
        assertThat(p.get("ttft_ms").asDouble()).isEqualTo(p.get("step_ms").asDouble());
        assertThat(p.get("tpot_ms").isNull()).isTrue();
    }

    @Test
    void aPlanThatDoesNotFitReportsFitsFalse() throws Exception {
        JsonNode j = json(run("sim", "--model", "deepseek-v2", "--hardware", "a100", "--cards", "2", "--batch", "1", "--json"));
        assertThat(j.get("fits").asBoolean()).isFalse();
        assertThat(j.get("memory_per_device_gb").asDouble()).isGreaterThan(80);
    }

    @Test
    void traceReplayUsesTheRecordedLoads(@TempDir Path dir) throws Exception {
        String m = ref("models/qwen3moe.gguf").toString(); // 16 experts, top-4, 3 layers
        Path stats = dir.resolve("stats.json");
        CliTest.Run rec = run("logits", "-m", m, "--tokens", RoutingCliTest.TOKENS, "--stats", stats.toString(), "-o", dir.resolve("l.json").toString());
        assertThat(rec.code()).as(rec.err()).isZero();
        JsonNode s = new ObjectMapper().readTree(stats.toFile());
        // the recorded per-expert loads of layer 0, grouped onto 4 devices of 4 experts each
        JsonNode et = s.get("summary").get("layers").get(0).get("expert_tokens");
        long[] dev = new long[4];
        long total = 0;
        for (int e = 0; e < 16; e++) { dev[e / 4] += et.get(e).asLong(); total += et.get(e).asLong(); }
        long max = 0;
        for (long v : dev) max = Math.max(max, v);
        double wantMaxOverMean = max / (total / 4.0);
        JsonNode j = json(run("sim", "--model", m, "--hardware", "h100", "--cards", "4", "--phase", "prefill", "--batch", "1", "--seq", "64000",
                "--trace", stats.toString(), "--json"));
        assertThat(j.get("router").asText()).isEqualTo("trace:native");
        assertThat(j.get("routing").get("mean_k").asDouble()).isCloseTo(4.0, within(1e-9));
        // the model's three MoE layers replay the three recorded layers
        double mean = 0;
        for (int l = 0; l < 3; l++) {
            JsonNode x = s.get("summary").get("layers").get(l).get("expert_tokens");
            long[] d = new long[4];
            long t = 0;
            for (int e = 0; e < 16; e++) { d[e / 4] += x.get(e).asLong(); t += x.get(e).asLong(); }
            long mx = 0;
            for (long v : d) mx = Math.max(mx, v);
            mean += (mx / (t / 4.0)) / 3;
        }
        assertThat(wantMaxOverMean).isGreaterThan(1.0);
        assertThat(j.get("routing").get("max_over_mean").asDouble()).isCloseTo(mean, within(1e-3)); // 64000 tokens: rounding only
        // a trace for another expert count is refused
        CliTest.Run bad = run("sim", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--trace", stats.toString());
        assertThat(bad.code()).isEqualTo(1);
        assertThat(bad.err()).contains("16 experts, the model 64");
    }

    @Test
    void planFindsFeasiblePlansBestFirstAndDrawsTheFrontier(@TempDir Path dir) throws Exception {
        Path png = dir.resolve("frontier.png");
        long t0 = System.nanoTime();
        JsonNode j = json(run("plan", "--model", "pangu-pro-moe", "--hardware", "ascend-800i-a2", "--cards", "4", "--tpot", "100ms",
                "--out", png.toString(), "--json"));
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(30); // "seconds", with slack for a loaded test machine
        JsonNode plans = j.get("plans");
        assertThat(plans.size()).isGreaterThan(3);
        double prev = Double.MAX_VALUE;
        for (JsonNode p : plans) {
            for (String k : new String[]{"plan", "batch", "chunks", "tokens_per_s_per_card", "ttft_ms", "tpot_ms", "memory_per_device_gb", "fits"}) {
                assertThat(p.has(k)).as(k).isTrue();
            }
            assertThat(p.get("tpot_ms").asDouble()).isLessThanOrEqualTo(100);
            assertThat(p.get("fits").asBoolean()).isTrue();
            assertThat(p.get("tokens_per_s_per_card").asDouble()).isLessThanOrEqualTo(prev);
            prev = p.get("tokens_per_s_per_card").asDouble();
        }
        assertThat(ImageIO.read(png.toFile()).getWidth()).isEqualTo(900);
        // a limit nothing meets is a one-line error
        CliTest.Run none = run("plan", "--model", "deepseek-v2", "--hardware", "a100", "--cards", "1", "--tpot", "5ms");
        assertThat(none.code()).isEqualTo(1);
        assertThat(none.err().strip()).startsWith("jmoe: plan: no plan of deepseek-v2").doesNotContain("\n");
    }

    @Test
    void badFlagsAreOneLineErrors() {
        String[][] cases = {
                {"sim", "--model", "pangu-pro-moe", "--hardware", "ascend-800i-a2", "--cards", "4", "--plan", "attn=dp2xtp4,experts=tp2xep4,shared=tp8"},
                {"sim", "--model", "pangu-pro-moe", "--hardware", "tpu", "--cards", "4"},
                {"sim", "--model", "no-such-model", "--hardware", "h100", "--cards", "4"},
                {"sim", "--model", "olmoe", "--hardware", "h100", "--cards", "0"},
                {"sim", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--phase", "serve"},
                {"sim", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--dtype", "int3"},
                {"sim", "--model", "olmoe", "--hardware", "ascend-910a", "--cards", "4", "--dtype", "f32"},
                {"sim", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--router", "moge:k=3"},
                {"sim", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--popularity", "pareto"},
                {"sim", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--schedule", "eps", "--chunks", "0"},
                {"sim", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--trace", "/no/such/stats.json"},
                {"sim", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--batch", "-1"},
                {"plan", "--model", "olmoe", "--hardware", "h100", "--cards", "4"},
                {"plan", "--model", "olmoe", "--hardware", "h100", "--cards", "4", "--tpot", "fast"},
        };
        for (String[] c : cases) {
            CliTest.Run r = run(c);
            String what = String.join(" ", c);
            assertThat(r.code()).as(what).isEqualTo(1);
            assertThat(r.err().strip()).as(what).startsWith("jmoe: ").doesNotContain("\n").doesNotContain("Exception");
        }
        CliTest.Run mismatch = run(cases[0]);
        assertThat(mismatch.err()).contains("plan 'attn=dp2xtp4,experts=tp2xep4,shared=tp8'").contains("4 devices (4 cards x 1 die)");
    }

    @Test
    void textOutputPrintsTheBreakdown() throws Exception {
        CliTest.Run r = run("sim", "--model", "olmoe", "--hardware", "h100", "--cards", "8", "--phase", "train", "--batch", "16", "--seq", "1024");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("| experts |").contains("| grad_sync |").contains("| optimizer |").contains("tokens/s per card");
        assertThat(Files.exists(Path.of("frontier.png"))).isFalse();
    }
}
