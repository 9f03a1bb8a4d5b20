package org.jmoe.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Reading bounded JSON bodies and writing JSON, text and OpenAI-style error answers on an {@link HttpExchange}. */
final class Exchanges {
    static final ObjectMapper JSON = new ObjectMapper();

    private Exchanges() {}

    /** The body as JSON; 413 past {@code maxBytes}, 400 when it does not parse. */
    static JsonNode readJson(HttpExchange ex, int maxBytes) throws IOException {
        String len = ex.getRequestHeaders().getFirst("Content-Length");
        if (len != null) {
            long n;
            try {
                n = Long.parseLong(len.trim());
            } catch (NumberFormatException e) {
                throw ApiError.invalid(null, "bad Content-Length header");
            }
            if (n > maxBytes) {
                // Read what was sent (when not absurd) so that the client gets the answer rather than a reset connection.
                if (n <= 64L * maxBytes) ex.getRequestBody().transferTo(java.io.OutputStream.nullOutputStream());
                throw tooLarge(maxBytes);
            }
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (InputStream in = ex.getRequestBody()) {
            byte[] b = new byte[8192];
            for (int n; (n = in.read(b)) > 0; ) {
                buf.write(b, 0, n);
                if (buf.size() > maxBytes) throw tooLarge(maxBytes);
            }
        }
        if (buf.size() == 0) throw ApiError.invalid(null, "the request body is empty (a JSON object is expected)");
        try {
            return JSON.readTree(buf.toByteArray());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw ApiError.invalid(null, "the request body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    private static ApiError tooLarge(int max) {
        return new ApiError(413, "invalid_request_error", null, "request_too_large", "the request body exceeds " + max + " bytes");
    }

    static void sendJson(HttpExchange ex, int status, Object body) throws IOException {
        send(ex, status, "application/json", JSON.writeValueAsBytes(body));
    }

    static void sendText(HttpExchange ex, int status, String contentType, String text) throws IOException {
        send(ex, status, contentType, text.getBytes(StandardCharsets.UTF_8));
    }

    static void send(HttpExchange ex, int status, String contentType, byte[] bytes) throws IOException {
        ex.getResponseHeaders().set("Content-Type", contentType);
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }

    static void sendError(HttpExchange ex, ApiError e) throws IOException {
        if (e.status() == 401) ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
        sendJson(ex, e.status(), e.body(JSON));
    }
}
