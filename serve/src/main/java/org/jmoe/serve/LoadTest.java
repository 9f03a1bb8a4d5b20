package org.jmoe.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A closed-loop load generator for an OpenAI-compatible server: {@code clients} virtual threads each send
 * streaming completions one after another for {@code duration}, and the run reports requests ok and failed,
 * decode tokens/s (completion tokens over the run), and TTFT and TPOT percentiles measured at the client.
 */
public final class LoadTest {
    /** A run's outcome; latencies in milliseconds as p50, p90, p99. */
    public record Result(int clients, double seconds, long ok, long failed, long completionTokens, double decodeTokensPerSecond,
                         double[] ttftMs, double[] tpotMs, Map<String, Long> errors) { }

    private LoadTest() {}

    public static Result run(URI base, int clients, Duration duration, int maxTokens, String apiKey) throws InterruptedException {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
        AtomicLong ok = new AtomicLong(), failed = new AtomicLong(), tokens = new AtomicLong();
        Map<String, Long> errors = new ConcurrentHashMap<>();
        List<Double> ttft = Collections.synchronizedList(new ArrayList<>()), tpot = Collections.synchronizedList(new ArrayList<>());
        long start = System.nanoTime(), end = start + duration.toNanos();
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            final int client = c;
            threads.add(Thread.ofVirtual().start(() -> {
                for (int i = 0; System.nanoTime() < end; i++) {
                    try {
                        Sample s = one(http, base, apiKey, "Client " + client + " request " + i + ": once upon a time", maxTokens, client * 100_000L + i);
                        ok.incrementAndGet();
                        tokens.addAndGet(s.tokens);
                        if (s.ttftMs >= 0) ttft.add(s.ttftMs);
                        if (s.tokens > 1) tpot.add(s.tpotMs);
                    } catch (Exception e) {
                        failed.incrementAndGet();
                        if (e instanceof InterruptedException) return;
                        errors.merge(e.getClass().getSimpleName() + ": " + e.getMessage(), 1L, Long::sum);
                        try { Thread.sleep(50); } catch (InterruptedException ie) { return; }
                    }
                }
            }));
        }
        for (Thread t : threads) t.join();
        double secs = (System.nanoTime() - start) / 1e9;
        return new Result(clients, secs, ok.get(), failed.get(), tokens.get(), tokens.get() / secs, percentiles(ttft), percentiles(tpot), new TreeMap<>(errors));
    }

    /** A soak's outcome: per kind of request, those that ended as expected and those that did not. */
    public record SoakResult(double seconds, Map<String, Long> expected, Map<String, Long> unexpected, Map<String, Long> errors) { }

    /**
     * A bounded mixed load, as a soak runs it: each client cycles through a streaming completion, a non-streaming
     * chat completion, a streaming request it abandons after its first event (a cancelled request), and a malformed
     * request (bad JSON, wrong types or an unknown model in turn), which must get a 4xx. Anything else is unexpected.
     */
    public static SoakResult soak(URI base, int clients, Duration duration, int maxTokens, String apiKey) throws InterruptedException {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
        Map<String, Long> good = new ConcurrentHashMap<>(), bad = new ConcurrentHashMap<>(), errors = new ConcurrentHashMap<>();
        long start = System.nanoTime(), end = start + duration.toNanos();
        List<Thread> threads = new ArrayList<>();
        String[] kinds = {"stream", "whole", "cancelled", "malformed"};
        for (int c = 0; c < clients; c++) {
            final int client = c;
            threads.add(Thread.ofVirtual().start(() -> {
                for (int i = 0; System.nanoTime() < end; i++) {
                    String kind = kinds[(i + client) % kinds.length];
                    try {
                        switch (kind) {
                            case "stream" -> one(http, base, apiKey, "Soak " + client + "/" + i + ": the river", maxTokens, i);
                            case "whole" -> whole(http, base, apiKey, "Soak " + client + "/" + i, maxTokens, i);
                            case "cancelled" -> abandon(http, base, apiKey, "Soak " + client + "/" + i + ": a long story", i);
                            default -> malformed(http, base, apiKey, i);
                        }
                        good.merge(kind, 1L, Long::sum);
                    } catch (Exception e) {
                        if (e instanceof InterruptedException) return;
                        bad.merge(kind, 1L, Long::sum);
                        errors.merge(kind + ": " + e.getClass().getSimpleName() + ": " + e.getMessage(), 1L, Long::sum);
                    }
                }
            }));
        }
        for (Thread t : threads) t.join();
        return new SoakResult((System.nanoTime() - start) / 1e9, new TreeMap<>(good), new TreeMap<>(bad), new TreeMap<>(errors));
    }

    private static HttpRequest.Builder post(URI base, String path, String apiKey, String body) {
        HttpRequest.Builder rb = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofMinutes(5))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (apiKey != null) rb.header("Authorization", "Bearer " + apiKey);
        return rb;
    }

    private static void whole(HttpClient http, URI base, String apiKey, String text, int maxTokens, long seed) throws Exception {
        ObjectNode body = Exchanges.JSON.createObjectNode();
        body.putArray("messages").addObject().put("role", "user").put("content", text);
        body.put("max_tokens", maxTokens);
        body.put("seed", seed);
        HttpResponse<String> r = http.send(post(base, "/v1/chat/completions", apiKey, body.toString()).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) throw new IllegalStateException("HTTP " + r.statusCode());
        JsonNode n = Exchanges.JSON.readTree(r.body());
        if (!n.path("choices").path(0).path("message").path("content").isTextual()) throw new IllegalStateException("no message in the answer");
    }

    /** A streaming request whose client goes away after the first event: the server must cancel it. */
    private static void abandon(HttpClient http, URI base, String apiKey, String text, long seed) throws Exception {
        ObjectNode body = Exchanges.JSON.createObjectNode();
        body.put("prompt", text);
        body.put("max_tokens", 256);
        body.put("ignore_eos", true);
        body.put("seed", seed);
        body.put("stream", true);
        HttpResponse<java.io.InputStream> r = http.send(post(base, "/v1/completions", apiKey, body.toString()).build(), HttpResponse.BodyHandlers.ofInputStream());
        try (java.io.InputStream in = r.body()) {
            if (r.statusCode() != 200) throw new IllegalStateException("HTTP " + r.statusCode());
            byte[] first = new byte[64];
            if (in.read(first) <= 0) throw new IllegalStateException("no event before leaving");
        }
    }

    private static void malformed(HttpClient http, URI base, String apiKey, long i) throws Exception {
        String body = switch ((int) (i % 3)) {
            case 0 -> "{\"prompt\": \"unterminated";
            case 1 -> "{\"prompt\": 42, \"max_tokens\": \"many\"}";
            default -> "{\"model\": \"no-such-model\", \"prompt\": \"hi\"}";
        };
        HttpResponse<String> r = http.send(post(base, "/v1/completions", apiKey, body).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() < 400 || r.statusCode() >= 500) throw new IllegalStateException("HTTP " + r.statusCode() + " for a malformed request");
        if (!Exchanges.JSON.readTree(r.body()).path("error").path("message").isTextual()) throw new IllegalStateException("no OpenAI-style error body");
    }

    private record Sample(long tokens, double ttftMs, double tpotMs) { }

    private static Sample one(HttpClient http, URI base, String apiKey, String prompt, int maxTokens, long seed) throws Exception {
        ObjectNode body = Exchanges.JSON.createObjectNode();
        body.put("prompt", prompt);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0.8);
        body.put("seed", seed);
        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        HttpRequest.Builder rb = HttpRequest.newBuilder(base.resolve("/v1/completions")).timeout(Duration.ofMinutes(5))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString()));
        if (apiKey != null) rb.header("Authorization", "Bearer " + apiKey);
        long t0 = System.nanoTime();
        HttpResponse<java.util.stream.Stream<String>> r = http.send(rb.build(), HttpResponse.BodyHandlers.ofLines());
        if (r.statusCode() != 200) {
            r.body().close();
            throw new IllegalStateException("HTTP " + r.statusCode());
        }
        long first = -1, last = -1, completion = -1;
        boolean done = false;
        try (var lines = r.body()) {
            for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
                String line = it.next();
                if (!line.startsWith("data: ")) continue;
                String data = line.substring(6);
                if (data.equals("[DONE]")) { done = true; continue; } // read on to the end of the response: the connection is then reused cleanly
                JsonNode n = Exchanges.JSON.readTree(data);
                if (n.has("error")) throw new IllegalStateException(n.path("error").path("message").asText());
                if (n.path("usage").isObject()) completion = n.path("usage").path("completion_tokens").asLong();
                JsonNode ch = n.path("choices");
                if (ch.size() > 0 && ch.get(0).path("finish_reason").isNull()) {
                    long t = System.nanoTime();
                    if (first < 0) first = t;
                    last = t;
                }
            }
        }
        if (!done) throw new IllegalStateException("stream ended without [DONE]");
        long n = Math.max(0, completion);
        double ttftMs = first < 0 ? -1 : (first - t0) / 1e6;
        double tpotMs = n > 1 && first >= 0 ? (last - first) / 1e6 / (n - 1) : 0;
        return new Sample(n, ttftMs, tpotMs);
    }

    static double[] percentiles(List<Double> v) {
        List<Double> s;
        synchronized (v) { s = new ArrayList<>(v); }
        if (s.isEmpty()) return new double[3];
        Collections.sort(s);
        int m = s.size();
        return new double[]{s.get((int) Math.round(0.5 * (m - 1))), s.get((int) Math.round(0.9 * (m - 1))), s.get((int) Math.round(0.99 * (m - 1)))};
    }
}
