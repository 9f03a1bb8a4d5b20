package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The command line as a user meets it: outputs, JSON, and one-line errors with exit code 1. */
class CliTest {
    static Path ref(String rel) {
        String p = System.getProperty("jmoe.reference", "../../shared/reference");
        return Path.of(p).resolve(rel).toAbsolutePath().normalize();
    }

    record Run(int code, String out, String err) { }

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        StringWriter errW = new StringWriter();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args, new PrintWriter(System.out, true), new PrintWriter(errW, true));
            return new Run(code, out.toString(StandardCharsets.UTF_8), errW + err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void infoJsonDescribesTheModel() throws Exception {
        Run r = run("info", "-m", ref("models/qwen3moe.gguf").toString(), "--json");
        assertThat(r.code()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertThat(j.get("architecture").asText()).isEqualTo("qwen3moe");
        assertThat(j.get("experts").asInt()).isEqualTo(16);
        assertThat(j.get("experts_used").asInt()).isEqualTo(4);
        assertThat(j.get("layers").asInt()).isEqualTo(3);
        // total parameters from the reference's own spec file
        JsonNode spec = new ObjectMapper().readTree(ref("models/qwen3moe.spec.json").toFile());
        assertThat(j.get("params_total").asLong()).isEqualTo(spec.get("n_params").asLong());
    }

    @Test
    void logitsCommandWritesTheReferenceLogits(@TempDir Path dir) throws Exception {
        JsonNode want = new ObjectMapper().readTree(ref("logits/llama_moe_8.json").toFile());
        StringBuilder ids = new StringBuilder();
        for (JsonNode t : want.get("tokens")) ids.append(ids.isEmpty() ? "" : ",").append(t.asInt());
        Path out = dir.resolve("l.json");
        Run r = run("logits", "-m", ref("models/llama_moe.gguf").toString(), "--tokens", ids.toString(), "-o", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode got = new ObjectMapper().readTree(out.toFile());
        assertThat(got.get("logits").size()).isEqualTo(8);
        for (int t = 0; t < 8; t++) {
            for (int i = 0; i < 320; i++) {
                // same tolerance as the engine's reference test: 1e-4 relative to the row's scale (~1)
                assertThat(got.get("logits").get(t).get(i).asDouble()).isCloseTo(want.get("logits").get(t).get(i).asDouble(), org.assertj.core.data.Offset.offset(2e-4));
            }
        }
    }

    @Test
    void greedyGenerationIsDeterministicAndJson() throws Exception {
        String m = ref("models/olmoe.gguf").toString();
        Run a = run("generate", "-m", m, "--tokens", "276,72,101", "-n", "6", "--temp", "0", "--json");
        Run b = run("generate", "-m", m, "--tokens", "276,72,101", "-n", "6", "--temp", "0", "--json");
        assertThat(a.code()).as(a.err()).isZero();
        JsonNode ja = new ObjectMapper().readTree(a.out()), jb = new ObjectMapper().readTree(b.out());
        assertThat(ja.get("tokens").size()).isBetween(1, 6);
        assertThat(ja.get("tokens")).isEqualTo(jb.get("tokens"));
    }

    @Test
    void benchJsonHasTheDocumentedKeys() throws Exception {
        Run r = run("bench", "-m", ref("models/qwen2moe.gguf").toString(), "-p", "8", "-n", "4", "-r", "2", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        for (String k : new String[]{"pp_tokens_per_s", "tg_tokens_per_s", "pp_tokens_per_s_stddev", "tg_tokens_per_s_stddev"}) {
            assertThat(j.get(k).asDouble()).as(k).isGreaterThanOrEqualTo(0);
        }
        assertThat(j.get("tg_tokens_per_s").asDouble()).isPositive();
    }

    @Test
    void errorsAreOneLineWithExitCodeOne(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("bad.gguf");
        Files.write(bad, new byte[]{'G', 'G', 'U', 'X', 3, 0, 0, 0});
        Run[] runs = {
                run("info", "-m", dir.resolve("missing.gguf").toString()),
                run("info", "-m", bad.toString()),
                run("bench", "-m", bad.toString(), "--bogus"),
                run("logits", "-m", ref("models/olmoe.gguf").toString(), "--tokens", "1,x", "-o", dir.resolve("o.json").toString()),
                run("logits", "-m", ref("models/olmoe.gguf").toString(), "--tokens", "99999", "-o", dir.resolve("o.json").toString()),
                run("generate", "-m", ref("models/pangu_tiny16").toString(), "-p", "hello"),
                run("generate", "-m", ref("models/olmoe.gguf").toString(), "--tokens", "1", "--temp", "-1"),
        };
        String[] expect = {"missing.gguf: no such file", "bad.gguf: not a GGUF file: bad magic", "Unknown option: '--bogus'",
                "--tokens: not a token id: 'x' (item 2)", "--tokens: token id 99999 out of range", "has no tokenizer", "--temp: must be >= 0"};
        for (int i = 0; i < runs.length; i++) {
            assertThat(runs[i].code()).as("run %d: %s", i, runs[i].err()).isEqualTo(1);
            String err = runs[i].err().strip();
            assertThat(err.lines().count()).as(err).isEqualTo(1);
            assertThat(err).startsWith("jmoe: ").contains(expect[i]);
        }
        assertThat(Files.exists(dir.resolve("o.json"))).isFalse();
    }

    /** Perplexity equals exp(mean NLL) computed here from the logits command's output for the same chunk. */
    @Test
    void perplexityAgreesWithLogitsAndTextCommandsWork(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("m.gguf");
        assertThat(run("synth", "--arch", "qwen3moe", "--preset", "tiny", "--seed", "3", "-o", model.toString()).code()).isZero();
        Path text = dir.resolve("t.txt");
        Files.writeString(text, "the model routes each token to the experts, and the experts answer in their group. ".repeat(8));
        Run p = run("perplexity", "-m", model.toString(), "-f", text.toString(), "--ctx", "32", "--max-chunks", "1", "--json");
        assertThat(p.code()).as(p.err()).isZero();
        JsonNode pj = new ObjectMapper().readTree(p.out());
        // the same first chunk through the tokenizer and the logits command
        org.jmoe.tokenizer.Tokenizer tok;
        try (org.jmoe.model.Model m = org.jmoe.model.ModelLoader.load(model)) {
            tok = m.tokenizer();
            int[] ids = tok.encode(Files.readString(text), tok.addsBos());
            StringBuilder csv = new StringBuilder();
            for (int i = 0; i < 32; i++) csv.append(i == 0 ? "" : ",").append(ids[i]);
            Path out = dir.resolve("l.json");
            assertThat(run("logits", "-m", model.toString(), "--tokens", csv.toString(), "-o", out.toString()).code()).isZero();
            JsonNode l = new ObjectMapper().readTree(out.toFile()).get("logits");
            double nll = 0;
            int n = 0;
            for (int t = 16; t < 31; t++) {              // llama.cpp's method: the second half of the chunk
                JsonNode row = l.get(t);
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (JsonNode v : row) max = Math.max(max, v.asDouble());
                for (JsonNode v : row) sum += Math.exp(v.asDouble() - max);
                nll -= row.get(ids[t + 1]).asDouble() - max - Math.log(sum);
                n++;
            }
            assertThat(pj.get("scored_tokens").asInt()).isEqualTo(n);
            // same logits (one batch of 32 either way), summed in double: equal to rounding
            assertThat(pj.get("perplexity").asDouble()).isCloseTo(Math.exp(nll / n), org.assertj.core.data.Offset.offset(1e-6 * Math.exp(nll / n)));
        }
        Run g = run("generate", "-m", model.toString(), "-p", "the model", "-n", "5", "--temp", "0", "--json");
        assertThat(g.code()).as(g.err()).isZero();
        JsonNode gj = new ObjectMapper().readTree(g.out());
        int[] gen = new int[gj.get("tokens").size()];
        for (int i = 0; i < gen.length; i++) gen[i] = gj.get("tokens").get(i).asInt();
        assertThat(gj.get("text").asText()).isEqualTo(tok.decode(gen));
        assertThat(gj.get("prompt_tokens").asInt()).isEqualTo(tok.encode("the model", tok.addsBos()).length);
    }
}
