package org.jmoe.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.JmoeException;
import org.jmoe.model.ModelConfig;
import org.jmoe.model.ModelLoader;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Model profiles: the built-in published configurations ({@code org/jmoe/sim/models/*.json}, format
 * {@value #FORMAT}) or any model jmoe can read — a GGUF file, a checkpoint directory or a bare {@code config.json}
 * — through {@link ModelLoader#config} (metadata only, no weights).
 */
public final class ModelProfiles {
    public static final String FORMAT = "jmoe-model/1";
    public static final List<String> NAMES = List.of("pangu-pro-moe", "deepseek-v2", "mixtral-8x7b", "mixtral-8x22b", "dbrx", "qwen3-30b-a3b", "olmoe");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private ModelProfiles() {}

    public static ModelProfile load(String nameOrPath) {
        if (nameOrPath == null || nameOrPath.isBlank()) throw new JmoeException("--model", "missing model (" + String.join(", ", NAMES) + ", or a model file)");
        String n = nameOrPath.strip();
        if (NAMES.contains(n)) {
            try (InputStream in = ModelProfiles.class.getResourceAsStream("models/" + n + ".json")) {
                if (in == null) throw new IllegalStateException("built-in model profile " + n + " is missing from the build");
                return parse(MAPPER.readTree(in), n);
            } catch (IOException e) {
                throw new IllegalStateException("built-in model profile " + n + " unreadable", e);
            }
        }
        Path p = Path.of(n);
        if (!Files.exists(p)) {
            throw new JmoeException("--model", "unknown model '" + n + "' (built in: " + String.join(", ", NAMES) + "; or a GGUF file, checkpoint directory or config.json)");
        }
        if (Files.isRegularFile(p) && n.endsWith(".json")) {
            try {
                JsonNode j = MAPPER.readTree(p.toFile());
                if (j != null && FORMAT.equals(j.path("format").asText())) return parse(j, n);
            } catch (IOException e) {
                throw new JmoeException(n, "not a JSON file: " + e.getMessage().lines().findFirst().orElse(""));
            }
        }
        return of(ModelLoader.config(p), p.getFileName().toString());
    }

    /** A profile of a loaded configuration. */
    public static ModelProfile of(ModelConfig c, String name) {
        if (c.experts == 0) throw new JmoeException(name, "the model has no experts: the simulator plans MoE models");
        String routing = switch (c.routing) {
            case TOPK -> "topk";
            case MOGE -> "moge";
            case GROUP_LIMITED -> "group_limited";
        };
        return new ModelProfile(name, "model file " + name, c.layers, c.hidden, c.heads, c.kvHeads, c.headDim, c.vocab, c.experts,
                c.expertsUsed, routing, c.groups, c.groupsUsed, c.expertFfn, c.sharedFfn, c.denseFfn, c.leadingDenseLayers,
                false, null, Map.of(), 0, 0);
    }

    static ModelProfile parse(JsonNode j, String who) {
        if (!FORMAT.equals(j.path("format").asText())) throw new JmoeException(who, "format is '" + j.path("format").asText() + "', expected " + FORMAT, "field format");
        ModelProfile.Mla mla = null;
        JsonNode a = j.path("attention");
        if (a.path("type").asText("gqa").equals("mla")) {
            mla = new ModelProfile.Mla(a.path("q_lora_rank").asInt(0), req(a, "kv_lora_rank", who), req(a, "qk_nope_head_dim", who),
                    req(a, "qk_rope_head_dim", who), req(a, "v_head_dim", who));
        }
        Map<String, String> dd = new HashMap<>();
        for (var it = j.path("deployment_dtype").fields(); it.hasNext(); ) {
            var e = it.next();
            dd.put(e.getKey(), e.getValue().asText());
        }
        String routing = j.path("routing").asText("topk");
        if (!List.of("topk", "moge", "group_limited").contains(routing)) throw new JmoeException(who, "routing '" + routing + "' is not topk, moge or group_limited", "field routing");
        ModelProfile m = new ModelProfile(j.path("name").asText(who), j.path("source").asText(""), req(j, "layers", who), req(j, "hidden", who),
                req(j, "heads", who), req(j, "kv_heads", who), req(j, "head_dim", who), req(j, "vocab", who), req(j, "experts", who),
                req(j, "experts_used", who), routing, j.path("groups").asInt(1), j.path("groups_used").asInt(1), req(j, "expert_ffn", who),
                j.path("shared_ffn").asInt(0), j.path("dense_ffn").asInt(0), j.path("dense_layers").asInt(0),
                j.path("tied_embeddings").asBoolean(false), mla, dd, j.path("published_params").path("total").asDouble(0),
                j.path("published_params").path("active").asDouble(0));
        if (m.expertsUsed() > m.experts() || m.groups() < 1 || m.experts() % m.groups() != 0 || m.denseLayers() >= m.layers()) {
            throw new JmoeException(who, "inconsistent experts/groups/dense layers", "field experts");
        }
        return m;
    }

    private static int req(JsonNode j, String f, String who) {
        JsonNode v = j.path(f);
        if (!v.canConvertToInt() || v.asInt() <= 0) throw new JmoeException(who, "missing or non-positive " + f, "field " + f);
        return v.asInt();
    }
}
