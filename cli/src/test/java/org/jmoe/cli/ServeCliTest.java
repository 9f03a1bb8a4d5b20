package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.serve.OpenAiServer;
import org.jmoe.serve.ServeLimits;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.jmoe.cli.CliTest.ref;
import static org.jmoe.cli.CliTest.run;

/** {@code serve} and {@code loadtest} on the command line: one-line errors, and a short load run against a live server. */
class ServeCliTest {
    @Test
    void badFlagsAreOneLineErrors() {
        CliTest.Run r = run("serve", "-m", ref("models/qwen3moe.gguf").toString(), "--port", "70000");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip()).startsWith("jmoe: --port: must be between 0 and 65535").doesNotContain("\n");
        CliTest.Run l = run("loadtest", "--url", "http://127.0.0.1:1", "--duration", "soon");
        assertThat(l.code()).isEqualTo(1);
        assertThat(l.err().strip()).isEqualTo("jmoe: --duration: not a positive duration: 'soon' (e.g. 60s, 2m, 500ms)");
    }

    @Test
    void loadtestReportsRequestsTokensAndLatencies() throws Exception {
        try (Model m = ModelLoader.load(ref("models/qwen3moe.gguf"));
             OpenAiServer s = new OpenAiServer(m, null, ServeLimits.defaults(), null, null, null)) {
            int port = s.start("127.0.0.1", 0);
            CliTest.Run r = run("loadtest", "--url", "http://127.0.0.1:" + port, "--clients", "3", "--duration", "1s", "--max-tokens", "4", "--json");
            assertThat(r.code()).as(r.err()).isZero();
            JsonNode j = new ObjectMapper().readTree(r.out());
            assertThat(j.path("requests_ok").asLong()).isPositive();
            assertThat(j.path("requests_failed").asLong()).isZero();
            assertThat(j.path("completion_tokens").asLong()).isPositive();
            assertThat(j.path("decode_tokens_per_s").asDouble()).isPositive();
            assertThat(j.path("ttft_ms").path("p50").asDouble()).isPositive();
            assertThat(j.path("tpot_ms").has("p99")).isTrue();
        }
    }

    @Test
    void aShortSoakOfMixedRequestsEndsAsExpectedAndLeavesTheServerIdle() throws Exception {
        try (Model m = ModelLoader.load(ref("models/qwen3moe.gguf"));
             OpenAiServer s = new OpenAiServer(m, null, ServeLimits.defaults(), null, null, null)) {
            int port = s.start("127.0.0.1", 0);
            CliTest.Run r = run("loadtest", "--url", "http://127.0.0.1:" + port, "--clients", "4", "--duration", "2s", "--max-tokens", "4", "--soak", "--json");
            assertThat(r.code()).as(r.out() + r.err()).isZero();
            JsonNode j = new ObjectMapper().readTree(r.out());
            // every kind ran and ended as expected: streamed, whole, abandoned mid-stream, refused with a 4xx
            for (String kind : new String[]{"stream", "whole", "cancelled", "malformed"}) assertThat(j.path("expected").path(kind).asLong()).as(kind).isPositive();
            assertThat(j.path("unexpected").size()).isZero();
            // abandoned requests were cancelled: nothing left running, no KV blocks held
            assertThat(j.path("server_after").path("jmoe_kv_blocks_used").asDouble()).isZero();
            assertThat(j.path("server_after").path("jmoe_batch_running").asDouble()).isZero();
            assertThat(j.path("server_after").path("jvm_threads_live_threads").asDouble()).isPositive();
            assertThat(s.kvBlocksUsed()).isZero();
        }
    }
}
