package org.jmoe.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.jmoe.model.Sampler;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads an OpenAI completion or chat completion request body into a {@link Parsed} request, checking every
 * field's type and range; anything wrong is an {@link ApiError} naming the field.
 */
final class RequestParser {
    /** A checked request: its prompt (text or ids), generation settings and streaming choice. */
    record Parsed(String promptText, int[] promptIds, int maxTokens, Sampler.Options sampling, float frequencyPenalty,
                  float presencePenalty, List<String> stop, boolean stream, boolean includeUsage, boolean ignoreEos) { }

    private final String modelId;
    private final ServeLimits limits;
    private final ChatTemplate template;

    RequestParser(String modelId, ServeLimits limits, ChatTemplate template) {
        this.modelId = modelId;
        this.limits = limits;
        this.template = template;
    }

    Parsed completion(JsonNode body) {
        checkCommon(body);
        JsonNode p = body.get("prompt");
        if (p == null || p.isNull()) throw ApiError.invalid("prompt", "'prompt' is required");
        String text = null;
        int[] ids = null;
        if (p.isTextual()) text = p.asText();
        else if (p.isArray()) {
            if (p.isEmpty()) throw ApiError.invalid("prompt", "'prompt' is empty");
            if (p.size() == 1 && p.get(0).isTextual()) text = p.get(0).asText();
            else if (p.get(0).isArray()) throw ApiError.invalid("prompt", "only one prompt per request is supported");
            else {
                ids = new int[p.size()];
                for (int i = 0; i < ids.length; i++) {
                    if (!p.get(i).isInt()) throw ApiError.invalid("prompt", "'prompt' must be a string or an array of token ids");
                    ids[i] = p.get(i).asInt();
                }
            }
        } else throw ApiError.invalid("prompt", "'prompt' must be a string or an array of token ids");
        return settings(body, text, ids, 16);
    }

    Parsed chat(JsonNode body) {
        checkCommon(body);
        JsonNode ms = body.get("messages");
        if (ms == null || !ms.isArray() || ms.isEmpty()) throw ApiError.invalid("messages", "'messages' must be a non-empty array");
        List<ChatTemplate.Message> list = new ArrayList<>();
        for (int i = 0; i < ms.size(); i++) {
            JsonNode m = ms.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) throw ApiError.invalid(where, where + " must be an object");
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual()) throw ApiError.invalid(where + ".role", where + ".role must be a string");
            String r = role.asText();
            if (!List.of("system", "developer", "user", "assistant", "tool").contains(r)) {
                throw ApiError.invalid(where + ".role", "unknown role '" + r + "'");
            }
            list.add(new ChatTemplate.Message(r.equals("developer") ? "system" : r, content(m.get("content"), where + ".content")));
        }
        JsonNode mct = body.get("max_completion_tokens");
        int dflt = limits.maxTokensLimit();
        String prompt;
        try {
            prompt = template.render(list);
        } catch (ChatTemplate.TemplateException e) {
            throw ApiError.invalid("messages", "the model's chat template refused the messages: " + e.getMessage());
        }
        Parsed p = settings(body, prompt, null, dflt);
        if (mct != null && !mct.isNull() && (body.get("max_tokens") == null || body.get("max_tokens").isNull())) {
            int n = intField(body, "max_completion_tokens", 1, limits.maxTokensLimit(), dflt);
            p = new Parsed(p.promptText(), p.promptIds(), n, p.sampling(), p.frequencyPenalty(), p.presencePenalty(), p.stop(), p.stream(), p.includeUsage(), p.ignoreEos());
        }
        return p;
    }

    private static String content(JsonNode c, String where) {
        if (c == null || c.isNull()) return "";
        if (c.isTextual()) return c.asText();
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : c) {
                if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiError.invalid(where, "only text content parts are supported");
                }
                sb.append(part.get("text").asText());
            }
            return sb.toString();
        }
        throw ApiError.invalid(where, where + " must be a string or an array of text parts");
    }

    private void checkCommon(JsonNode body) {
        if (body == null || !body.isObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
        JsonNode m = body.get("model");
        if (m != null && !m.isNull()) {
            if (!m.isTextual()) throw ApiError.invalid("model", "'model' must be a string");
            if (!m.asText().equals(modelId)) {
                throw new ApiError(404, "invalid_request_error", "model", "model_not_found", "The model '" + m.asText() + "' does not exist (this server has '" + modelId + "')");
            }
        }
        JsonNode n = body.get("n");
        if (n != null && !n.isNull()) {
            if (!n.isInt()) throw ApiError.invalid("n", "'n' must be an integer");
            if (n.asInt() != 1) throw ApiError.invalid("n", "only n=1 is supported");
        }
    }

    private Parsed settings(JsonNode b, String text, int[] ids, int defaultMaxTokens) {
        int maxTokens = intField(b, "max_tokens", 1, limits.maxTokensLimit(), Math.min(defaultMaxTokens, limits.maxTokensLimit()));
        float temperature = floatField(b, "temperature", 0, 2, 1f);
        float topP = floatField(b, "top_p", 0, 1, 1f);
        if (topP == 0f) topP = Float.MIN_NORMAL;
        int topK = intField(b, "top_k", 0, Integer.MAX_VALUE, 0);
        float minP = floatField(b, "min_p", 0, 0.999999f, 0f);
        float repeat = floatField(b, "repeat_penalty", 0.01f, 10, 1f);
        float freq = floatField(b, "frequency_penalty", -2, 2, 0f);
        float pres = floatField(b, "presence_penalty", -2, 2, 0f);
        long seed;
        JsonNode s = b.get("seed");
        if (s == null || s.isNull()) seed = java.util.concurrent.ThreadLocalRandom.current().nextLong();
        else if (s.isIntegralNumber() && s.canConvertToLong()) seed = s.asLong();
        else throw ApiError.invalid("seed", "'seed' must be an integer");
        List<String> stop = new ArrayList<>();
        JsonNode st = b.get("stop");
        if (st != null && !st.isNull()) {
            if (st.isTextual()) stop.add(st.asText());
            else if (st.isArray() && st.size() <= 4) {
                for (JsonNode x : st) {
                    if (!x.isTextual()) throw ApiError.invalid("stop", "'stop' must be a string or an array of up to 4 strings");
                    stop.add(x.asText());
                }
            } else throw ApiError.invalid("stop", "'stop' must be a string or an array of up to 4 strings");
            stop.removeIf(String::isEmpty);
        }
        boolean stream = boolField(b, "stream", false);
        JsonNode so = b.get("stream_options");
        boolean usage = so != null && so.isObject() && so.path("include_usage").asBoolean(false);
        Sampler.Options o = new Sampler.Options(temperature, topK, topP, minP, repeat, 64, seed);
        return new Parsed(text, ids, maxTokens, o, freq, pres, List.copyOf(stop), stream, usage, boolField(b, "ignore_eos", false));
    }

    private static int intField(JsonNode b, String name, int lo, int hi, int dflt) {
        JsonNode v = b.get(name);
        if (v == null || v.isNull()) return dflt;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw ApiError.invalid(name, "'" + name + "' must be an integer");
        int x = v.asInt();
        if (x < lo || x > hi) throw ApiError.invalid(name, "'" + name + "' must be between " + lo + " and " + hi + ", got " + x);
        return x;
    }

    private static float floatField(JsonNode b, String name, float lo, float hi, float dflt) {
        JsonNode v = b.get(name);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber()) throw ApiError.invalid(name, "'" + name + "' must be a number");
        double x = v.asDouble();
        if (!(x >= lo && x <= hi)) throw ApiError.invalid(name, "'" + name + "' must be between " + lo + " and " + hi + ", got " + x);
        return (float) x;
    }

    private static boolean boolField(JsonNode b, String name, boolean dflt) {
        JsonNode v = b.get(name);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw ApiError.invalid(name, "'" + name + "' must be a boolean");
        return v.asBoolean();
    }
}
