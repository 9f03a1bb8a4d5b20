package org.jmoe.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.jmoe.model.BatchForward;
import org.jmoe.model.Model;
import org.jmoe.model.PagedKvCache;
import org.jmoe.moe.Placement;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.function.Consumer;

/**
 * The OpenAI-compatible HTTP server: {@code /v1/completions}, {@code /v1/chat/completions}, {@code /v1/models},
 * {@code /health}, {@code /metrics} (Prometheus text), {@code /dashboard} and {@code /dashboard/data}. It owns the
 * paged KV cache, the batched forward pass and the {@link Scheduler}; HTTP requests run on virtual threads and
 * wait for the scheduler's events. Every failure is answered with an OpenAI-style error and the server goes on.
 */
public final class OpenAiServer implements AutoCloseable {
    private final ServedModel served;
    private final ServeLimits limits;
    private final String apiKey;
    private final ServeMetrics metrics = new ServeMetrics();
    private final Scheduler scheduler;
    private final CompletionHandler completions;
    private final Dashboard dashboard;
    private final Semaphore inFlight;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private HttpServer http;
    private volatile boolean closing;

    /**
     * A server for {@code model}; {@code configure} sets the batched forward pass up (router, expert backend)
     * before serving; {@code placement} (or null) is the mesh the device loads are reported for.
     */
    public OpenAiServer(Model model, String modelName, ServeLimits limits, String apiKey, Consumer<BatchForward> configure, Placement placement) {
        this.served = ServedModel.of(model, modelName);
        this.limits = limits;
        this.apiKey = apiKey == null || apiKey.isEmpty() ? null : apiKey;
        int blocks = PagedKvCache.blocksFor(model.config(), limits.kvBudgetBytes(), limits.kvBlockTokens());
        if (blocks < 1) throw new IllegalArgumentException("--kv-budget-mb: " + (limits.kvBudgetBytes() >> 20) + " MB holds no KV block of " + limits.kvBlockTokens() + " tokens");
        BatchForward forward = new BatchForward(model, new PagedKvCache(model.config(), blocks, limits.kvBlockTokens()));
        if (configure != null) configure.accept(forward);
        ExpertLoadTracker loads = model.config().experts > 0 ? new ExpertLoadTracker(model.config().layers, model.config().experts, placement) : null;
        if (loads != null) forward.setRoutingListener(lr -> loads.onLayer(lr.layer(), lr.plan()));
        this.scheduler = new Scheduler(forward, limits, metrics);
        metrics.bind(scheduler, loads);
        RequestParser parser = new RequestParser(served.id(), limits, served.chatTemplate());
        this.completions = new CompletionHandler(served, scheduler, parser, metrics, limits);
        this.dashboard = new Dashboard(served, scheduler, metrics, loads);
        this.inFlight = new Semaphore(limits.maxConcurrent());
    }

    /** Listens on {@code host:port} (0: any free port); returns the port. */
    public int start(String host, int port) throws IOException {
        http = HttpServer.create(new InetSocketAddress(host, port), 256);
        http.setExecutor(executor);
        http.createContext("/", this::route);
        http.start();
        return http.getAddress().getPort();
    }

    public int port() { return http.getAddress().getPort(); }
    public String modelId() { return served.id(); }
    public String chatTemplateFamily() { return served.chatTemplate().family().name().toLowerCase(); }
    /** KV cache blocks held by requests (0 when idle). */
    public int kvBlocksUsed() { return scheduler.cache().usedBlocks(); }
    public int kvBlocksTotal() { return scheduler.cache().totalBlocks(); }
    public int running() { return scheduler.running(); }

    private void route(HttpExchange ex) {
        String path = ex.getRequestURI().getPath();
        String method = ex.getRequestMethod();
        int status = 500;
        boolean api = path.startsWith("/v1/");
        try (ex) {
            try {
                if (!path.equals("/health")) checkKey(ex); // every route but the health check
                switch (path) {
                    case "/v1/completions", "/v1/chat/completions" -> {
                        requireMethod(method, "POST");
                        status = generate(ex, path.equals("/v1/chat/completions"));
                    }
                    case "/v1/models" -> {
                        requireMethod(method, "GET");
                        ObjectNode o = Exchanges.JSON.createObjectNode();
                        o.put("object", "list");
                        ObjectNode m = o.putArray("data").addObject();
                        m.put("id", served.id());
                        m.put("object", "model");
                        m.put("created", 0);
                        m.put("owned_by", "jmoe");
                        Exchanges.sendJson(ex, status = 200, o);
                    }
                    case "/health" -> {
                        ObjectNode o = Exchanges.JSON.createObjectNode();
                        o.put("status", closing ? "shutting_down" : "ok");
                        o.put("model", served.id());
                        o.put("running", scheduler.running());
                        o.put("queued", scheduler.queued());
                        Exchanges.sendJson(ex, status = closing ? 503 : 200, o);
                    }
                    case "/metrics" -> Exchanges.sendText(ex, status = 200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape());
                    case "/dashboard", "/dashboard/" -> Exchanges.send(ex, status = 200, "text/html; charset=utf-8", dashboard.page());
                    case "/dashboard/data" -> Exchanges.sendJson(ex, status = 200, dashboard.data());
                    default -> throw new ApiError(404, "invalid_request_error", null, "not_found", "no such endpoint: " + method + " " + path);
                }
            } catch (ApiError e) {
                status = e.status();
                Exchanges.sendError(ex, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException e) {
                status = 499; // the client went away
            } catch (RuntimeException e) {
                status = 500;
                Exchanges.sendError(ex, new ApiError(500, "server_error", null, null, "internal error: " + e));
            }
        } catch (IOException ignored) {
            // the client went away while the error was written
        } finally {
            if (api) metrics.request(status);
        }
    }

    private int generate(HttpExchange ex, boolean chat) throws IOException, InterruptedException {
        if (closing) throw new ApiError(503, "server_error", null, "shutting_down", "the server is shutting down");
        if (!inFlight.tryAcquire()) {
            throw new ApiError(429, "rate_limit_exceeded", null, "too_many_requests",
                    "too many concurrent requests (limit " + limits.maxConcurrent() + ", --max-concurrent); retry later");
        }
        try {
            return completions.handle(ex, chat);
        } finally {
            inFlight.release();
        }
    }

    private void checkKey(HttpExchange ex) {
        if (apiKey == null) return;
        String h = ex.getRequestHeaders().getFirst("Authorization");
        String expect = "Bearer " + apiKey;
        if (h == null && "GET".equals(ex.getRequestMethod())) {
            // a browser opening the dashboard cannot send a header: /dashboard?api_key=KEY (the page passes it on)
            String q = ex.getRequestURI().getRawQuery();
            if (q != null) {
                for (String kv : q.split("&")) {
                    if (kv.startsWith("api_key=")) h = "Bearer " + java.net.URLDecoder.decode(kv.substring(8), StandardCharsets.UTF_8);
                }
            }
        }
        if (h == null || !MessageDigest.isEqual(h.getBytes(StandardCharsets.UTF_8), expect.getBytes(StandardCharsets.UTF_8))) {
            throw new ApiError(401, "invalid_request_error", null, "invalid_api_key", "Incorrect or missing API key (send 'Authorization: Bearer KEY')");
        }
    }

    private static void requireMethod(String method, String want) {
        if (!method.equals(want)) throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", "use " + want);
    }

    /**
     * Stops: no new requests; running ones get up to {@code graceMillis} to finish, then are cancelled; then the
     * listener closes.
     */
    public void shutdown(long graceMillis) {
        closing = true;
        scheduler.shutdown(graceMillis);
        if (http != null) http.stop(1);
        executor.shutdownNow();
    }

    @Override
    public void close() { shutdown(5_000); }
}
