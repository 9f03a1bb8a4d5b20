package org.jmoe.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.jmoe.model.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;
import static org.jmoe.serve.TestServers.events;
import static org.jmoe.serve.TestServers.get;
import static org.jmoe.serve.TestServers.post;

/** The OpenAI API over real HTTP against a tiny synthetic model: answers, streaming, batching invariance, cancellation, errors, metrics. */
class ServerTest {
    private static Model model;
    private static OpenAiServer server;
    private static int port;

    @BeforeAll
    static void start() throws Exception {
        model = TestServers.tinyModel();
        server = new OpenAiServer(model, null, ServeLimits.defaults().withMaxBatch(8).withKvBudget(8L << 20, 8), null, null, null);
        port = server.start("127.0.0.1", 0);
    }

    @AfterAll
    static void stop() {
        server.close();
        model.close();
    }

    private static String completion(String prompt, int maxTokens, long seed, boolean stream) {
        return "{\"prompt\":\"" + prompt + "\",\"max_tokens\":" + maxTokens + ",\"temperature\":0.9,\"seed\":" + seed + ",\"stream\":" + stream + "}";
    }

    @Test
    void aCompletionHasTextUsageAndTheModelId() throws Exception {
        var r = post(port, "/v1/completions", completion("Once upon a time", 8, 1, false), null);
        assertThat(r.status()).isEqualTo(200);
        JsonNode o = r.json();
        assertThat(o.path("object").asText()).isEqualTo("text_completion");
        assertThat(o.path("model").asText()).isEqualTo("tiny-qwen3moe");
        assertThat(o.path("choices").get(0).path("finish_reason").asText()).isIn("stop", "length");
        JsonNode u = o.path("usage");
        assertThat(u.path("prompt_tokens").asInt()).isPositive();
        assertThat(u.path("completion_tokens").asInt()).isBetween(1, 8);
        assertThat(u.path("total_tokens").asInt()).isEqualTo(u.path("prompt_tokens").asInt() + u.path("completion_tokens").asInt());
        var models = get(port, "/v1/models").json();
        assertThat(models.path("data").get(0).path("id").asText()).isEqualTo("tiny-qwen3moe");
    }

    @Test
    void streamingGivesTheSameTextAsOneAnswer() throws Exception {
        String whole = post(port, "/v1/completions", completion("The river", 12, 5, false), null).json().path("choices").get(0).path("text").asText();
        var r = post(port, "/v1/completions", completion("The river", 12, 5, true).replace("}", ",\"stream_options\":{\"include_usage\":true}}"), null);
        assertThat(r.status()).isEqualTo(200);
        List<String> ev = events(r.body());
        assertThat(ev.getLast()).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        String finish = null;
        int usage = -1;
        for (String e : ev.subList(0, ev.size() - 1)) {
            JsonNode n = org.jmoe.serve.Exchanges.JSON.readTree(e);
            if (n.path("usage").isObject()) usage = n.path("usage").path("completion_tokens").asInt();
            if (n.path("choices").isEmpty()) continue;
            text.append(n.path("choices").get(0).path("text").asText());
            if (!n.path("choices").get(0).path("finish_reason").isNull()) finish = n.path("choices").get(0).path("finish_reason").asText();
        }
        assertThat(text.toString()).isEqualTo(whole);
        assertThat(finish).isIn("stop", "length");
        assertThat(usage).isPositive();
    }

    @Test
    void chatStreamsDeltasAndAnswers() throws Exception {
        String body = "{\"model\":\"tiny-qwen3moe\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"max_tokens\":6,\"seed\":3,\"temperature\":0.7";
        var whole = post(port, "/v1/chat/completions", body + "}", null);
        assertThat(whole.status()).isEqualTo(200);
        JsonNode o = whole.json();
        assertThat(o.path("object").asText()).isEqualTo("chat.completion");
        assertThat(o.path("choices").get(0).path("message").path("role").asText()).isEqualTo("assistant");
        var s = post(port, "/v1/chat/completions", body + ",\"stream\":true}", null);
        List<String> ev = events(s.body());
        assertThat(ev.getLast()).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        for (String e : ev.subList(0, ev.size() - 1)) {
            JsonNode n = org.jmoe.serve.Exchanges.JSON.readTree(e);
            assertThat(n.path("object").asText()).isEqualTo("chat.completion.chunk");
            text.append(n.path("choices").get(0).path("delta").path("content").asText(""));
        }
        assertThat(text.toString()).isEqualTo(o.path("choices").get(0).path("message").path("content").asText());
    }

    @Test
    void eightConcurrentRequestsGiveTheTokensOfEightSequentialOnes() throws Exception {
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i < 8; i++) bodies.add(completion("Story number " + i + " begins", 16, 100 + i, false).replace("}", ",\"ignore_eos\":true}"));
        List<String> sequential = new ArrayList<>();
        for (String b : bodies) sequential.add(post(port, "/v1/completions", b, null).json().path("choices").get(0).path("text").asText());
        try (ExecutorService ex = Executors.newFixedThreadPool(8)) {
            List<Future<String>> fs = new ArrayList<>();
            for (String b : bodies) {
                Callable<String> c = () -> post(port, "/v1/completions", b, null).json().path("choices").get(0).path("text").asText();
                fs.add(ex.submit(c));
            }
            for (int i = 0; i < 8; i++) assertThat(fs.get(i).get()).as("request %d", i).isEqualTo(sequential.get(i));
        }
        assertThat(sequential.stream().distinct().count()).isGreaterThan(1);
    }

    @Test
    void badRequestsGetOpenAiErrorsAndTheServerGoesOn() throws Exception {
        assertError(post(port, "/v1/completions", "{not json", null), 400, null);
        assertError(post(port, "/v1/completions", "[1,2]", null), 400, null);
        assertError(post(port, "/v1/completions", "{\"prompt\":\"x\",\"temperature\":\"hot\"}", null), 400, "temperature");
        assertError(post(port, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":1.5}", null), 400, "max_tokens");
        assertError(post(port, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":100000}", null), 400, "max_tokens");
        assertError(post(port, "/v1/completions", "{\"prompt\":\"x\",\"n\":2}", null), 400, "n");
        assertError(post(port, "/v1/completions", "{\"prompt\":\"x\",\"stop\":[1]}", null), 400, "stop");
        assertError(post(port, "/v1/completions", "{\"max_tokens\":3}", null), 400, "prompt");
        assertError(post(port, "/v1/completions", "{\"prompt\":[1,99999]}", null), 400, "prompt");
        assertError(post(port, "/v1/chat/completions", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", null), 400, "messages[0].role");
        var unknown = post(port, "/v1/completions", "{\"model\":\"gpt-9\",\"prompt\":\"x\"}", null);
        assertError(unknown, 404, "model");
        assertThat(unknown.json().path("error").path("code").asText()).isEqualTo("model_not_found");
        String longPrompt = "word ".repeat(2000);
        var tooLong = post(port, "/v1/completions", "{\"prompt\":\"" + longPrompt + "\"}", null);
        assertError(tooLong, 400, "prompt");
        assertThat(tooLong.json().path("error").path("code").asText()).isEqualTo("context_length_exceeded");
        assertError(post(port, "/v1/completions", "{\"prompt\":\"" + "x".repeat(2 << 20) + "\"}", null), 413, null);
        assertError(get(port, "/v1/completions"), 405, null);
        assertError(get(port, "/nowhere"), 404, null);
        assertThat(post(port, "/v1/completions", completion("Fine", 3, 2, false), null).status()).isEqualTo(200);
        assertThat(get(port, "/health").json().path("status").asText()).isEqualTo("ok");
    }

    @Test
    void stopStringsEndTheText() throws Exception {
        String text = post(port, "/v1/completions", completion("Count", 24, 4, false).replace("}", ",\"ignore_eos\":true}"), null)
                .json().path("choices").get(0).path("text").asText();
        if (text.length() < 4) return;
        String stop = text.substring(2, 4);
        JsonNode o = post(port, "/v1/completions", completion("Count", 24, 4, false).replace("}", ",\"stop\":[\"" + jsonEscape(stop) + "\"]}"), null).json();
        String cut = o.path("choices").get(0).path("text").asText();
        assertThat(cut).isEqualTo(text.substring(0, text.indexOf(stop)));
        assertThat(o.path("choices").get(0).path("finish_reason").asText()).isEqualTo("stop");
    }

    private static String jsonEscape(String s) {
        try {
            String q = Exchanges.JSON.writeValueAsString(s);
            return q.substring(1, q.length() - 1);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void metricsHaveTheDocumentedSeries() throws Exception {
        post(port, "/v1/completions", completion("Metrics please", 4, 8, false), null);
        var m = get(port, "/metrics");
        assertThat(m.status()).isEqualTo(200);
        assertThat(m.body()).contains("jmoe_requests_total{status=\"200\"}", "jmoe_tokens_in_total", "jmoe_tokens_out_total",
                "jmoe_ttft_seconds_bucket", "jmoe_tpot_seconds_bucket", "jmoe_batch_running", "jmoe_queue_length",
                "jmoe_kv_blocks_used", "jmoe_kv_blocks_capacity", "jmoe_expert_load{expert=\"0\",layer=\"0\"}", "jmoe_expert_imbalance{layer=\"1\"}",
                "jmoe_device_imbalance_score", "jvm_memory_used_bytes");
        JsonNode d = get(port, "/dashboard/data").json();
        assertThat(d.path("expert_load")).hasSize(2);
        assertThat(d.path("expert_load").get(0)).hasSize(8);
        assertThat(d.path("kv").path("total").asInt()).isPositive();
        var page = get(port, "/dashboard");
        assertThat(page.status()).isEqualTo(200);
        assertThat(page.body()).contains("<canvas", "/dashboard/data").doesNotContain("http://", "https://");
    }

    static void assertError(TestServers.Reply r, int status, String param) throws Exception {
        assertThat(r.status()).as(r.body()).isEqualTo(status);
        JsonNode e = r.json().path("error");
        assertThat(e.path("message").asText()).isNotEmpty();
        assertThat(e.path("type").asText()).isNotEmpty();
        assertThat(e.has("param")).isTrue();
        assertThat(e.has("code")).isTrue();
        if (param != null) assertThat(e.path("param").asText()).isEqualTo(param);
    }
}
