package org.jmoe.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.model.Synth;
import org.jmoe.tensor.DType;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** A tiny synthetic Qwen3-MoE (with its tokenizer) behind a server on a free port, and HTTP helpers for the tests. */
final class TestServers {
    private static Path modelFile;

    private TestServers() {}

    static synchronized Model tinyModel() throws IOException {
        if (modelFile == null) {
            Path dir = Files.createTempDirectory("jmoe-serve-test");
            dir.toFile().deleteOnExit();
            modelFile = Synth.write("qwen3moe", "tiny", DType.F32, 7, dir.resolve("tiny-qwen3moe.gguf"));
            modelFile.toFile().deleteOnExit();
        }
        return ModelLoader.load(modelFile);
    }

    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();

    record Reply(int status, String body) {
        JsonNode json() throws IOException { return Exchanges.JSON.readTree(body); }
    }

    static Reply post(int port, String path, String body, String key) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("Authorization", "Bearer " + key);
        HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body());
    }

    static Reply get(int port, String path) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body());
    }

    /** The JSON payloads of an SSE body ({@code data: ...} lines), {@code [DONE]} included as text. */
    static List<String> events(String body) {
        List<String> out = new ArrayList<>();
        for (String line : body.split("\n")) if (line.startsWith("data: ")) out.add(line.substring(6));
        return out;
    }

    /** Opens a raw streaming request, reads until the first event, and returns the socket (still open). */
    static Socket openStream(int port, String body, String key) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        s.setSoTimeout(30_000);
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        String head = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n"
                + (key != null ? "Authorization: Bearer " + key + "\r\n" : "") + "\r\n";
        OutputStream os = s.getOutputStream();
        os.write(head.getBytes(StandardCharsets.US_ASCII));
        os.write(b);
        os.flush();
        InputStream in = s.getInputStream();
        StringBuilder seen = new StringBuilder();
        while (!seen.toString().contains("data: ")) {
            int c = in.read();
            if (c < 0) throw new IOException("stream closed early: " + seen);
            seen.append((char) c);
        }
        return s;
    }

    /** Sets up a batched forward pass whose MoE layers take at least {@code millis} each: the model's own router, slowed. */
    static java.util.function.Consumer<org.jmoe.model.BatchForward> slow(Model m, long millis) {
        org.jmoe.moe.Router nat = org.jmoe.model.NativeRouters.of(m.config());
        org.jmoe.moe.Router slow = new org.jmoe.moe.Router() {
            @Override public String spec() { return nat.spec(); }
            @Override public int maxK(int experts) { return nat.maxK(experts); }
            @Override public void route(org.jmoe.moe.RouterInput in, org.jmoe.moe.RoutingPlan plan) {
                try { Thread.sleep(millis); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
                nat.route(in, plan);
            }
        };
        return f -> f.setRouter(slow);
    }

    /** Reads until {@code marker} has been seen or the stream ends; returns what was read. */
    static String readUntil(InputStream in, String marker) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int c; !sb.toString().endsWith(marker) && (c = in.read()) >= 0; ) sb.append((char) c);
        return sb.toString();
    }
}
