package org.jmoe.serve;

import org.jmoe.model.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.net.Socket;

import static org.assertj.core.api.Assertions.assertThat;
import static org.jmoe.serve.ServerTest.assertError;
import static org.jmoe.serve.TestServers.get;
import static org.jmoe.serve.TestServers.post;

/** API key, the concurrency bound, the KV budget, the request timeout and a clean shutdown. */
class LimitsTest {
    private static final String KEY = "sk-test-123";
    private static Model model;

    @BeforeAll
    static void load() throws Exception {
        model = TestServers.tinyModel();
    }

    @AfterAll
    static void unload() {
        model.close();
    }

    private static String body(int maxTokens, boolean stream) {
        return "{\"prompt\":\"Tell me\",\"max_tokens\":" + maxTokens + ",\"seed\":1,\"ignore_eos\":true,\"stream\":" + stream + "}";
    }

    @Test
    void keyConcurrencyAndKvBudget() throws Exception {
        // 64 KiB of KV: 8 blocks of 16 tokens (2 layers × 32 floats × 2 × 4 bytes per token).
        ServeLimits l = ServeLimits.defaults().withKvBudget(64 << 10, 16).withRequests(1000, 1, 60_000);
        try (OpenAiServer s = new OpenAiServer(model, "tiny", l, KEY, TestServers.slow(model, 2), null)) {
            int port = s.start("127.0.0.1", 0);
            var noKey = post(port, "/v1/completions", body(2, false), null);
            assertError(noKey, 401, null);
            assertThat(noKey.json().path("error").path("code").asText()).isEqualTo("invalid_api_key");
            assertError(post(port, "/v1/completions", body(2, false), "wrong"), 401, null);
            assertThat(post(port, "/v1/completions", body(2, false), KEY).status()).isEqualTo(200);
            assertThat(get(port, "/health").status()).isEqualTo(200);
            var tooBig = post(port, "/v1/completions", body(200, false), KEY);
            assertError(tooBig, 400, "max_tokens");
            assertThat(tooBig.json().path("error").path("message").asText()).contains("KV cache");
            try (Socket held = TestServers.openStream(port, body(100, true), KEY)) {
                var busy = post(port, "/v1/completions", body(2, false), KEY);
                assertError(busy, 429, null);
            }
            long until = System.currentTimeMillis() + 15_000;
            int status = 0;
            while (System.currentTimeMillis() < until && (status = post(port, "/v1/completions", body(2, false), KEY).status()) == 429) Thread.sleep(20);
            assertThat(status).isEqualTo(200);
            // the key guards every route but /health: metrics and the dashboard too (a browser passes it as ?api_key=)
            for (String route : new String[]{"/metrics", "/dashboard", "/dashboard/data", "/v1/models"}) {
                assertThat(get(port, route).status()).as(route).isEqualTo(401);
            }
            assertThat(get(port, "/dashboard?api_key=" + KEY).status()).isEqualTo(200);
            assertThat(get(port, "/dashboard/data?api_key=wrong").status()).isEqualTo(401);
            String metrics = get(port, "/metrics?api_key=" + KEY).body();
            assertThat(metrics).contains("jmoe_requests_total{status=\"401\"}", "jmoe_requests_total{status=\"429\"}");
        }
    }

    @Test
    void requestsThatDoNotFitTheKvCacheTogetherWaitTheirTurn() throws Exception {
        // 8 blocks of 16 tokens: each request reserves ~7 (prompt + 100), so the second waits for the first.
        ServeLimits l = ServeLimits.defaults().withKvBudget(64 << 10, 16);
        try (OpenAiServer s = new OpenAiServer(model, null, l, null, TestServers.slow(model, 1), null)) {
            int port = s.start("127.0.0.1", 0);
            String[] texts = new String[2];
            Thread[] ts = new Thread[2];
            for (int i = 0; i < 2; i++) {
                final int k = i;
                ts[i] = Thread.ofVirtual().start(() -> {
                    try {
                        texts[k] = post(port, "/v1/completions", body(100, false), null).json().path("choices").get(0).path("text").asText();
                    } catch (Exception e) {
                        texts[k] = "failed: " + e;
                    }
                });
            }
            for (Thread t : ts) t.join();
            assertThat(texts[0]).isEqualTo(texts[1]).doesNotStartWith("failed");
            assertThat(s.kvBlocksUsed()).isZero();
        }
    }

    @Test
    void aLongPromptPrefilledInChunksGivesTheSameTokens() throws Exception {
        String prompt = "The history of the river and the town beside it, told slowly. ".repeat(8);
        String req = "{\"prompt\":\"" + prompt + "\",\"max_tokens\":8,\"seed\":2,\"ignore_eos\":true}";
        ServeLimits d = ServeLimits.defaults();
        String[] got = new String[2];
        int[] chunks = {16, 4096};
        for (int i = 0; i < 2; i++) {
            ServeLimits l = new ServeLimits(d.maxBatch(), d.kvBudgetBytes(), d.kvBlockTokens(), chunks[i], d.maxTokensLimit(), d.maxConcurrent(),
                    d.requestTimeoutMs(), d.maxBodyBytes());
            try (OpenAiServer s = new OpenAiServer(model, null, l, null, null, null)) {
                var r = post(s.start("127.0.0.1", 0), "/v1/completions", req, null);
                assertThat(r.json().path("usage").path("prompt_tokens").asInt()).isGreaterThan(64);
                got[i] = r.json().path("choices").get(0).path("text").asText();
            }
        }
        assertThat(got[0]).isEqualTo(got[1]);
    }

    @Test
    void aClientThatLeavesMidStreamFreesItsSlotAndBlocks() throws Exception {
        try (OpenAiServer s = new OpenAiServer(model, null, ServeLimits.defaults(), null, TestServers.slow(model, 2), null)) {
            int port = s.start("127.0.0.1", 0);
            Socket sock = TestServers.openStream(port, body(400, true), null);
            assertThat(s.kvBlocksUsed()).isPositive();
            assertThat(s.running()).isEqualTo(1);
            sock.close();
            long until = System.currentTimeMillis() + 15_000;
            while ((s.kvBlocksUsed() > 0 || s.running() > 0) && System.currentTimeMillis() < until) Thread.sleep(20);
            assertThat(s.running()).isZero();
            assertThat(s.kvBlocksUsed()).isZero();
            assertThat(post(port, "/v1/completions", body(3, false), null).status()).isEqualTo(200);
        }
    }

    @Test
    void aRequestPastItsTimeoutEnds() throws Exception {
        ServeLimits l = ServeLimits.defaults().withRequests(2048, 8, 1);
        try (OpenAiServer s = new OpenAiServer(model, null, l, null, null, null)) {
            int port = s.start("127.0.0.1", 0);
            var r = post(port, "/v1/completions", body(400, false), null);
            assertError(r, 408, null);
            assertThat(s.kvBlocksUsed()).isZero();
        }
    }

    @Test
    void shutdownEndsInFlightStreamsCleanly() throws Exception {
        OpenAiServer s = new OpenAiServer(model, null, ServeLimits.defaults(), null, TestServers.slow(model, 2), null);
        int port = s.start("127.0.0.1", 0);
        try (Socket sock = TestServers.openStream(port, body(480, true), null)) {
            InputStream in = sock.getInputStream();
            Thread stopper = Thread.ofVirtual().start(() -> s.shutdown(100));
            String rest = TestServers.readUntil(in, "data: [DONE]");
            stopper.join();
            assertThat(rest).endsWith("data: [DONE]").contains("cancelled");
        }
        assertThat(s.kvBlocksUsed()).isZero();
    }
}
