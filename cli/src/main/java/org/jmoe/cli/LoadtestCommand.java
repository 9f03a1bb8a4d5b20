package org.jmoe.cli;

import org.jmoe.serve.LoadTest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code jmoe loadtest}: closed-loop streaming load on an OpenAI-compatible server. */
@Command(name = "loadtest", mixinStandardHelpOptions = true,
        description = "Send streaming completions from many clients for a while; report requests ok/failed, decode tokens/s, TTFT and TPOT p50/p90/p99.")
final class LoadtestCommand implements Runnable {
    @Option(names = "--url", required = true, paramLabel = "URL", description = "Server base URL, e.g. http://127.0.0.1:8080.")
    String url;

    @Option(names = "--clients", paramLabel = "N", defaultValue = "64", description = "Concurrent clients (default: ${DEFAULT-VALUE}).")
    int clients;

    @Option(names = "--duration", paramLabel = "D", defaultValue = "60s", description = "How long: 60s, 2m, 500ms, or seconds (default: ${DEFAULT-VALUE}).")
    String duration;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "64", description = "max_tokens of each request (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--api-key", paramLabel = "K", description = "Bearer key (default: the JMOE_API_KEY environment variable).")
    String apiKey;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--soak", description = "Mixed load (streaming, non-streaming, abandoned, malformed requests in turn) with the server's "
            + "threads, open files, heap and KV blocks read from /metrics before and after (docs/RELIABILITY.md).")
    boolean soak;

    @Override
    public void run() {
        if (clients < 1 || clients > 100_000) throw new IllegalArgumentException("--clients: must be between 1 and 100000, got " + clients);
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens: must be >= 1, got " + maxTokens);
        URI base;
        try {
            base = URI.create(url);
            if (base.getScheme() == null || base.getHost() == null) throw new IllegalArgumentException();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--url: not an http URL: '" + url + "'");
        }
        Duration d = parseDuration(duration);
        String key = apiKey != null ? apiKey : System.getenv("JMOE_API_KEY");
        if (soak) {
            soak(base, d, key);
            return;
        }
        LoadTest.Result r;
        try {
            r = LoadTest.run(base, clients, d, maxTokens, key);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        if (json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("url", url);
            o.put("clients", r.clients());
            o.put("seconds", r.seconds());
            o.put("max_tokens", maxTokens);
            o.put("requests_ok", r.ok());
            o.put("requests_failed", r.failed());
            o.put("completion_tokens", r.completionTokens());
            o.put("decode_tokens_per_s", r.decodeTokensPerSecond());
            o.put("ttft_ms", ordered(r.ttftMs()));
            o.put("tpot_ms", ordered(r.tpotMs()));
            o.put("errors", r.errors());
            System.out.println(Json.write(o));
        } else {
            System.out.printf("clients %d, %.1f s: %d ok, %d failed, %d tokens, %.1f decode tokens/s%n", r.clients(), r.seconds(), r.ok(), r.failed(),
                    r.completionTokens(), r.decodeTokensPerSecond());
            System.out.printf("TTFT ms p50 %.1f p90 %.1f p99 %.1f | TPOT ms p50 %.1f p90 %.1f p99 %.1f%n", r.ttftMs()[0], r.ttftMs()[1], r.ttftMs()[2],
                    r.tpotMs()[0], r.tpotMs()[1], r.tpotMs()[2]);
            r.errors().forEach((what, n) -> System.out.printf("failed %d x: %s%n", n, what));
        }
    }

    private static final String[] WATCHED = {"jvm_threads_live_threads", "process_files_open_files", "jmoe_kv_blocks_used",
            "jmoe_batch_running", "jmoe_queue_length"};

    private void soak(URI base, Duration d, String key) {
        Map<String, Double> before = serverGauges(base, key);
        LoadTest.SoakResult r;
        try {
            r = LoadTest.soak(base, clients, d, maxTokens, key);
            Thread.sleep(3000); // abandoned requests are cancelled at their next token; let the server settle
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        Map<String, Double> after = serverGauges(base, key);
        long unexpected = r.unexpected().values().stream().mapToLong(Long::longValue).sum();
        if (json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("url", url);
            o.put("clients", clients);
            o.put("seconds", r.seconds());
            o.put("expected", r.expected());
            o.put("unexpected", r.unexpected());
            o.put("errors", r.errors());
            o.put("server_before", before);
            o.put("server_after", after);
            System.out.println(Json.write(o));
        } else {
            System.out.printf("soak: %d clients, %.1f s; as expected: %s; unexpected: %d %s%n", clients, r.seconds(), r.expected(), unexpected, r.unexpected());
            r.errors().forEach((what, n) -> System.out.printf("unexpected %d x: %s%n", n, what));
            for (String g : WATCHED) System.out.printf("server %-28s before %12.0f  after %12.0f%n", g, before.getOrDefault(g, Double.NaN), after.getOrDefault(g, Double.NaN));
            System.out.printf("server %-28s before %12.0f  after %12.0f (not after a GC: compare with jcmd PID GC.run first)%n", "heap used bytes",
                    before.getOrDefault("heap", Double.NaN), after.getOrDefault("heap", Double.NaN));
        }
        if (unexpected > 0) throw new org.jmoe.JmoeException("soak", unexpected + " requests ended unexpectedly (listed above)");
    }

    /** The gauges a soak watches, read from the server's /metrics (heap summed over its pools). */
    private static Map<String, Double> serverGauges(URI base, String key) {
        Map<String, Double> m = new LinkedHashMap<>();
        try {
            var http = java.net.http.HttpClient.newHttpClient();
            var rb = java.net.http.HttpRequest.newBuilder(base.resolve("/metrics")).timeout(Duration.ofSeconds(30));
            if (key != null) rb.header("Authorization", "Bearer " + key);
            String text = http.send(rb.build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            double heap = 0;
            for (String line : text.split("\n")) {
                if (line.startsWith("#") || line.isBlank()) continue;
                int sp = line.lastIndexOf(' ');
                String name = line.substring(0, sp), base0 = name.contains("{") ? name.substring(0, name.indexOf('{')) : name;
                double v = Double.parseDouble(line.substring(sp + 1));
                if (base0.equals("jvm_memory_used_bytes") && name.contains("area=\"heap\"")) heap += v;
                for (String g : WATCHED) if (base0.equals(g)) m.put(g, v);
            }
            m.put("heap", heap);
        } catch (java.io.IOException | RuntimeException e) {
            throw new org.jmoe.JmoeException("--url", "cannot read the server's /metrics: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return m;
    }

    private static Map<String, Double> ordered(double[] p) {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("p50", p[0]);
        m.put("p90", p[1]);
        m.put("p99", p[2]);
        return m;
    }

    static Duration parseDuration(String s) {
        try {
            String t = s.trim();
            Duration d;
            if (t.endsWith("ms")) d = Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
            else if (t.endsWith("s")) d = Duration.ofMillis((long) (Double.parseDouble(t.substring(0, t.length() - 1)) * 1000));
            else if (t.endsWith("m")) d = Duration.ofMillis((long) (Double.parseDouble(t.substring(0, t.length() - 1)) * 60_000));
            else d = Duration.ofMillis((long) (Double.parseDouble(t) * 1000));
            if (d.isNegative() || d.isZero()) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--duration: not a positive duration: '" + s + "' (e.g. 60s, 2m, 500ms)");
        }
    }
}
