package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Model;
import org.jmoe.moe.Placement;
import org.jmoe.moe.Router;
import org.jmoe.parallel.ParallelExperts;
import org.jmoe.serve.OpenAiServer;
import org.jmoe.serve.ServeLimits;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.util.concurrent.CountDownLatch;

/** {@code jmoe serve}: the OpenAI-compatible server with continuous batching, metrics and a dashboard. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /v1/models) with continuous "
                + "batching, Prometheus metrics (/metrics), a live dashboard (/dashboard) and /health. Ctrl-C or SIGTERM stops it cleanly.")
final class ServeCommand implements Runnable {
    @Mixin
    ModelOptions mo;

    @Mixin
    RoutingOptions ro;

    @Option(names = "--model-name", paramLabel = "NAME", description = "Model id in the API (default: the file name without extension).")
    String modelName;

    @Option(names = "--host", paramLabel = "H", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", paramLabel = "P", defaultValue = "8080", description = "Port (0: any free port) (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--api-key", paramLabel = "K", description = "Require 'Authorization: Bearer K' on /v1/ (default: the JMOE_API_KEY environment variable, else none).")
    String apiKey;

    @Option(names = "--max-batch", paramLabel = "N", defaultValue = "16", description = "Requests in the running batch at most (default: ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--kv-budget-mb", paramLabel = "M", defaultValue = "256", description = "Memory of the paged KV cache (default: ${DEFAULT-VALUE}).")
    long kvBudgetMb;

    @Option(names = "--kv-block", paramLabel = "T", defaultValue = "16", description = "Tokens per KV cache block (default: ${DEFAULT-VALUE}).")
    int kvBlock;

    @Option(names = "--prefill-chunk", paramLabel = "T", defaultValue = "64", description = "Prompt tokens evaluated per step over all new requests (default: ${DEFAULT-VALUE}).")
    int prefillChunk;

    @Option(names = "--max-tokens-limit", paramLabel = "N", defaultValue = "2048", description = "Largest max_tokens a request may ask for (default: ${DEFAULT-VALUE}).")
    int maxTokensLimit;

    @Option(names = "--max-concurrent", paramLabel = "N", defaultValue = "64", description = "Requests in flight before 429 (default: ${DEFAULT-VALUE}).")
    int maxConcurrent;

    @Option(names = "--request-timeout", paramLabel = "S", defaultValue = "300", description = "Seconds a request may take in all (default: ${DEFAULT-VALUE}).")
    double requestTimeout;

    @Option(names = "--max-body-kb", paramLabel = "KB", defaultValue = "1024", description = "Largest request body (default: ${DEFAULT-VALUE}).")
    int maxBodyKb;

    @Override
    public void run() {
        if (ro.stats != null) throw new JmoeException("--stats", "not used by serve: the expert loads are at /metrics and /dashboard/data");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port: must be between 0 and 65535, got " + port);
        if (kvBudgetMb < 1 || kvBudgetMb > (1L << 20)) throw new IllegalArgumentException("--kv-budget-mb: must be between 1 and 1048576, got " + kvBudgetMb);
        if (!(requestTimeout > 0)) throw new IllegalArgumentException("--request-timeout: must be positive, got " + requestTimeout);
        ServeLimits limits = new ServeLimits(maxBatch, kvBudgetMb << 20, kvBlock, prefillChunk, maxTokensLimit, maxConcurrent,
                (long) (requestTimeout * 1000), (int) Math.min(1L << 30, (long) maxBodyKb * 1024));
        String key = apiKey != null ? apiKey : System.getenv("JMOE_API_KEY");
        try (Model m = mo.open()) {
            Placement p = ro.placement(m.config());
            Router r = RoutingOptions.router(ro.router, m, p, false);
            ParallelExperts mesh = ro.meshBackend(m, mo.model, p);
            OpenAiServer server = new OpenAiServer(m, modelName, limits, key, f -> {
                if (r != null) f.setRouter(r);
                if (mesh != null) f.setExpertBackend(mesh);
            }, p);
            int bound;
            try {
                bound = server.start(host, port);
            } catch (IOException e) {
                server.shutdown(0);
                throw new JmoeException("--port", "cannot listen on " + host + ":" + port + ": " + e.getMessage());
            }
            CountDownLatch stopped = new CountDownLatch(1);
            Thread hook = new Thread(() -> {
                System.err.println("jmoe: stopping: finishing running requests (up to 10 s)");
                server.shutdown(10_000);
                synchronized (ro) {
                    ro.finish(null); // the mesh's threads and worker JVMs, before the JVM halts
                }
                stopped.countDown();
            });
            Runtime.getRuntime().addShutdownHook(hook);
            System.err.printf("jmoe: serving %s as '%s' on http://%s:%d (chat template: %s, %d KV blocks of %d tokens, batch <= %d, %d threads)%n",
                    mo.model, server.modelId(), host, bound, server.chatTemplateFamily(), server.kvBlocksTotal(), kvBlock, maxBatch, mo.threadCount());
            System.err.printf("jmoe: dashboard at http://%s:%d/dashboard, metrics at /metrics%n", host, bound);
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
