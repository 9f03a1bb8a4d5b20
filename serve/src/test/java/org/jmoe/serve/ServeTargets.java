package org.jmoe.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.jmoe.model.Model;
import org.jmoe.tokenizer.Tokenizer;

import java.io.IOException;

/**
 * The fuzz contract for an OpenAI request body, from its bytes to the prompt tokens the scheduler would get:
 * the first input byte picks the endpoint (even: {@code /v1/chat/completions}, odd: {@code /v1/completions}), the
 * rest is the body. Either the request is accepted — a prompt of in-range token ids, {@code max_tokens} within the
 * server's bound — or refused with an {@link ApiError} of a 4xx status. Anything else escaping is a finding (the
 * server would answer 500 or drop the connection).
 */
final class ServeTargets {
    private final Model model;
    private final RequestParser parser;
    private final ServeLimits limits = ServeLimits.defaults();

    ServeTargets() throws IOException {
        model = TestServers.tinyModel();
        ServedModel served = ServedModel.of(model, null);
        parser = new RequestParser(served.id(), limits, served.chatTemplate());
    }

    void openaiRequest(byte[] data) {
        if (data.length == 0) return;
        boolean chat = (data[0] & 1) == 0;
        byte[] body = java.util.Arrays.copyOfRange(data, 1, data.length);
        try {
            JsonNode n;
            try {
                n = Exchanges.JSON.readTree(body);
            } catch (IOException e) {
                return; // the server answers 400 "not valid JSON"
            }
            if (n == null) return; // an empty body: 400
            RequestParser.Parsed p = chat ? parser.chat(n) : parser.completion(n);
            int[] ids = p.promptIds();
            if (ids == null) {
                Tokenizer tok = model.tokenizer();
                ids = tok.encode(p.promptText(), tok.addsBos());
            }
            if (p.maxTokens() < 1 || p.maxTokens() > limits.maxTokensLimit()) throw new IllegalStateException("max_tokens " + p.maxTokens() + " accepted");
            if (p.sampling() == null) throw new IllegalStateException("no sampling settings");
        } catch (ApiError e) {
            if (e.status() < 400 || e.status() >= 500) throw new IllegalStateException("refused with status " + e.status(), e);
        }
    }

    void close() {
        model.close();
    }
}
