package org.jmoe.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import org.jmoe.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code /v1/completions} and {@code /v1/chat/completions}: turns a checked request into tokens, queues it on the
 * {@link Scheduler}, and answers with one JSON object or, when streaming, server-sent events (one
 * {@code data: {...}} chunk per text delta, a last chunk with the finish reason, an optional usage chunk, then
 * {@code data: [DONE]}). A client that goes away while streaming cancels its request.
 */
final class CompletionHandler {
    private static final AtomicLong IDS = new AtomicLong();
    private final ServedModel served;
    private final Scheduler scheduler;
    private final RequestParser parser;
    private final ServeMetrics metrics;
    private final ServeLimits limits;

    CompletionHandler(ServedModel served, Scheduler scheduler, RequestParser parser, ServeMetrics metrics, ServeLimits limits) {
        this.served = served;
        this.scheduler = scheduler;
        this.parser = parser;
        this.metrics = metrics;
        this.limits = limits;
    }

    /** Answers one request; returns the HTTP status sent. */
    int handle(HttpExchange ex, boolean chat) throws IOException, InterruptedException {
        JsonNode body = Exchanges.readJson(ex, limits.maxBodyBytes());
        RequestParser.Parsed p = chat ? parser.chat(body) : parser.completion(body);
        int[] prompt = tokens(p);
        int ctx = served.contextLength();
        if (prompt.length >= ctx) {
            throw new ApiError(400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
                    "the prompt has " + prompt.length + " tokens; the model's context is " + ctx + " tokens");
        }
        int maxTokens = Math.min(p.maxTokens(), ctx - prompt.length);
        Tokenizer tok = served.tokenizer();
        GenRequest r = new GenRequest(prompt, maxTokens, new RequestSampler(p.sampling(), p.frequencyPenalty(), p.presencePenalty()),
                new TextAssembler(tok, p.stop()), p.ignoreEos() ? id -> false : served::isEndOfGeneration, TimeUnit.MILLISECONDS.toNanos(limits.requestTimeoutMs()));
        scheduler.submit(r);
        metrics.tokensIn(prompt.length);
        String id = (chat ? "chatcmpl-" : "cmpl-") + Long.toHexString(System.currentTimeMillis()) + "-" + IDS.incrementAndGet();
        long created = System.currentTimeMillis() / 1000;
        return p.stream() ? stream(ex, r, chat, id, created, p.includeUsage()) : whole(ex, r, chat, id, created);
    }

    private int[] tokens(RequestParser.Parsed p) {
        int[] ids = p.promptIds();
        if (ids == null) {
            Tokenizer tok = served.tokenizer();
            if (tok == null) throw ApiError.invalid("prompt", "the model has no tokenizer: send the prompt as an array of token ids");
            ids = tok.encode(p.promptText(), tok.addsBos());
        }
        if (ids.length == 0) throw ApiError.invalid("prompt", "the prompt is empty");
        int V = served.model().config().vocab;
        for (int id : ids) if (id < 0 || id >= V) throw ApiError.invalid("prompt", "token id " + id + " is out of range 0.." + (V - 1));
        return ids;
    }

    private int whole(HttpExchange ex, GenRequest r, boolean chat, String id, long created) throws IOException, InterruptedException {
        StringBuilder text = new StringBuilder();
        GenRequest.Done done;
        while (true) {
            GenRequest.Event e = r.events.take();
            if (e instanceof GenRequest.Delta d) text.append(d.text());
            else { done = (GenRequest.Done) e; break; }
        }
        ApiError err = failure(done);
        if (err != null) {
            Exchanges.sendError(ex, err);
            return err.status();
        }
        ObjectNode o = head(id, chat ? "chat.completion" : "text_completion", created);
        ObjectNode c = o.putArray("choices").addObject();
        c.put("index", 0);
        if (chat) {
            ObjectNode m = c.putObject("message");
            m.put("role", "assistant");
            m.put("content", text.toString());
        } else {
            c.put("text", text.toString());
            c.putNull("logprobs");
        }
        c.put("finish_reason", done.finishReason());
        usage(o, done);
        Exchanges.sendJson(ex, 200, o);
        return 200;
    }

    private int stream(HttpExchange ex, GenRequest r, boolean chat, String id, long created, boolean includeUsage) throws InterruptedException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        try {
            ex.sendResponseHeaders(200, 0);
        } catch (IOException gone) {
            r.cancel();
            return 499;
        }
        try (OutputStream os = ex.getResponseBody()) {
            String object = chat ? "chat.completion.chunk" : "text_completion";
            if (chat) {
                ObjectNode o = head(id, object, created);
                ObjectNode c = o.putArray("choices").addObject();
                c.put("index", 0);
                c.putObject("delta").put("role", "assistant").put("content", "");
                c.putNull("finish_reason");
                event(os, o);
            }
            while (true) {
                GenRequest.Event e = r.events.take();
                ObjectNode o = head(id, object, created);
                ObjectNode c = o.putArray("choices").addObject();
                c.put("index", 0);
                if (e instanceof GenRequest.Delta d) {
                    if (chat) c.putObject("delta").put("content", d.text());
                    else c.put("text", d.text());
                    c.putNull("finish_reason");
                    event(os, o);
                    continue;
                }
                GenRequest.Done done = (GenRequest.Done) e;
                ApiError err = failure(done);
                if (err != null) {
                    event(os, err.body(Exchanges.JSON));
                } else {
                    if (chat) c.putObject("delta");
                    else c.put("text", "");
                    c.put("finish_reason", done.finishReason());
                    event(os, o);
                    if (includeUsage) {
                        ObjectNode u = head(id, object, created);
                        u.putArray("choices");
                        usage(u, done);
                        event(os, u);
                    }
                }
                os.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                os.flush();
                return 200;
            }
        } catch (IOException gone) {
            r.cancel();
            return 499;
        }
    }

    private static ApiError failure(GenRequest.Done d) {
        return switch (d.finishReason()) {
            case "timeout" -> new ApiError(408, "timeout_error", null, "request_timeout", "the request did not finish within the server's --request-timeout");
            case "cancelled" -> new ApiError(503, "server_error", null, "cancelled", "the request was cancelled (server shutting down)");
            case "error" -> new ApiError(500, "server_error", null, null, "generation failed: " + d.error());
            default -> null;
        };
    }

    private ObjectNode head(String id, String object, long created) {
        ObjectNode o = Exchanges.JSON.createObjectNode();
        o.put("id", id);
        o.put("object", object);
        o.put("created", created);
        o.put("model", served.id());
        return o;
    }

    private static void usage(ObjectNode o, GenRequest.Done d) {
        ObjectNode u = o.putObject("usage");
        u.put("prompt_tokens", d.promptTokens());
        u.put("completion_tokens", d.completionTokens());
        u.put("total_tokens", d.promptTokens() + d.completionTokens());
    }

    private static void event(OutputStream os, Object o) throws IOException {
        os.write(("data: " + Exchanges.JSON.writeValueAsString(o) + "\n\n").getBytes(StandardCharsets.UTF_8));
        os.flush();
    }
}
