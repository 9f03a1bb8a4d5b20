package org.jmoe.model;

import com.fasterxml.jackson.databind.JsonNode;
import org.jmoe.JmoeException;
import org.jmoe.format.Checkpoint;
import org.jmoe.tensor.Tensor;
import org.jmoe.tokenizer.Tokenizers;
import org.jmoe.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.Map;

/**
 * Builds a {@link Model} from a Hugging Face checkpoint directory ({@code config.json} + safetensors):
 * Pangu Pro MoE ({@code PanguProMoEForCausalLM}, MoGE routing), Qwen2-MoE, Qwen3-MoE, Mixtral and OLMoE.
 * HF checkpoints rotate query/key halves (NEOX RoPE) for every family, including Mixtral.
 */
public final class HfModelLoader {
    private HfModelLoader() {}

    public static Model load(Path dir) {
        Checkpoint ck = Checkpoint.open(dir);
        try {
            ModelConfig c = config(dir.resolve("config.json").toString(), ck.config());
            return build(ck, c);
        } catch (RuntimeException e) {
            ck.close();
            throw e;
        }
    }

    static ModelConfig config(String who, JsonNode j) {
        JsonNode archs = j.get("architectures");
        String arch = archs != null && archs.isArray() && !archs.isEmpty() ? archs.get(0).asText() : null;
        if (arch == null) throw new JmoeException(who, "missing field", "field architectures");
        ModelConfig c = new ModelConfig();
        c.archDisplay = arch;
        c.arch = switch (arch) {
            case "PanguProMoEForCausalLM" -> "pangu-moe";
            case "Qwen3MoeForCausalLM" -> "qwen3moe";
            case "Qwen2MoeForCausalLM" -> "qwen2moe";
            case "MixtralForCausalLM" -> "llama";
            case "OlmoeForCausalLM" -> "olmoe";
            default -> throw new JmoeException(who, "unsupported architecture '" + arch
                    + "' (jmoe runs PanguProMoEForCausalLM, Qwen3MoeForCausalLM, Qwen2MoeForCausalLM, MixtralForCausalLM, OlmoeForCausalLM)", "field architectures");
        };
        c.hidden = req(who, j, "hidden_size");
        c.layers = req(who, j, "num_hidden_layers");
        c.heads = req(who, j, "num_attention_heads");
        c.kvHeads = opt(who, j, "num_key_value_heads", c.heads);
        if (c.heads % c.kvHeads != 0) throw new JmoeException(who, "num_attention_heads " + c.heads + " is not a multiple of num_key_value_heads " + c.kvHeads, "field num_key_value_heads");
        c.headDim = opt(who, j, "head_dim", c.hidden / c.heads);
        c.vocab = req(who, j, "vocab_size");
        c.contextLength = opt(who, j, "max_position_embeddings", 4096);
        c.rmsEps = (float) num(who, j, "rms_norm_eps", 1e-6);
        c.ropeTheta = num(who, j, "rope_theta", 10000);
        c.ropeType = ModelConfig.RopeType.NEOX;
        c.ropeDim = c.headDim;
        JsonNode rs = j.get("rope_scaling");
        if (rs != null && rs.isObject()) {
            String type = rs.has("rope_type") ? rs.get("rope_type").asText() : rs.path("type").asText("none");
            double factor = rs.path("factor").asDouble(1);
            switch (type) {
                case "linear" -> c.ropeLinearFactor = factor;
                case "yarn" -> {
                    c.ropeYarnFactor = factor;
                    c.ropeYarnOrigCtx = rs.path("original_max_position_embeddings").asInt(c.contextLength);
                    c.ropeYarnBetaFast = rs.path("beta_fast").asDouble(32);
                    c.ropeYarnBetaSlow = rs.path("beta_slow").asDouble(1);
                }
                case "default", "none" -> { }
                default -> throw new JmoeException(who, "unsupported rope scaling type '" + type + "'", "field rope_scaling");
            }
        }
        c.denseFfn = opt(who, j, "intermediate_size", 0);
        c.experts = j.has("num_local_experts") ? req(who, j, "num_local_experts") : req(who, j, "num_experts");
        c.expertsUsed = req(who, j, "num_experts_per_tok");
        if (c.expertsUsed > c.experts) throw new JmoeException(who, "num_experts_per_tok " + c.expertsUsed + " exceeds the " + c.experts + " experts", "field num_experts_per_tok");
        c.expertFfn = j.has("moe_intermediate_size") ? req(who, j, "moe_intermediate_size") : c.denseFfn;
        c.bosId = opt(who, j, "bos_token_id", -1);
        c.eosId = j.path("eos_token_id").isArray() ? j.path("eos_token_id").path(0).asInt(-1) : opt(who, j, "eos_token_id", -1);
        if (j.hasNonNull("jmoe_router")) c.nativeRouter = j.get("jmoe_router").asText();
        switch (c.arch) {
            case "pangu-moe" -> {
                c.routing = ModelConfig.Routing.MOGE;
                c.groups = opt(who, j, "num_groups", c.expertsUsed);
                if (c.groups < 1 || c.experts % c.groups != 0 || c.expertsUsed % c.groups != 0) {
                    throw new JmoeException(who, c.experts + " experts / top-" + c.expertsUsed + " do not split into " + c.groups + " groups", "field num_experts_per_tok");
                }
                c.groupsUsed = c.groups;
                c.sharedFfn = opt(who, j, "shared_expert_intermediate_size", 0);
                c.normTopK = false;
            }
            case "qwen2moe" -> {
                c.sharedFfn = opt(who, j, "shared_expert_intermediate_size", 0);
                c.normTopK = j.path("norm_topk_prob").asBoolean(false);
            }
            case "qwen3moe" -> {
                c.qkNorm = ModelConfig.QkNorm.PER_HEAD;
                c.normTopK = j.path("norm_topk_prob").asBoolean(true);
            }
            case "olmoe" -> {
                c.qkNorm = ModelConfig.QkNorm.WHOLE;
                c.normTopK = j.path("norm_topk_prob").asBoolean(false);
            }
            default -> c.normTopK = true;
        }
        c.validate(who);
        return c;
    }

    private static int req(String who, JsonNode j, String field) {
        JsonNode v = j.get(field);
        if (v == null) throw new JmoeException(who, "missing field", "field " + field);
        if (!v.canConvertToInt() || v.asInt() <= 0 || v.asInt() > (1 << 24)) throw new JmoeException(who, "field must be a positive integer, got " + v, "field " + field);
        return v.asInt();
    }

    private static int opt(String who, JsonNode j, String field, int dflt) {
        JsonNode v = j.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.canConvertToInt()) throw new JmoeException(who, "field must be an integer, got " + v, "field " + field);
        return v.asInt();
    }

    private static double num(String who, JsonNode j, String field, double dflt) {
        JsonNode v = j.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber()) throw new JmoeException(who, "field must be a number, got " + v, "field " + field);
        return v.asDouble();
    }

    private static Model build(Checkpoint ck, ModelConfig c) {
        Map<String, Tensor> t = ck.tensors();
        Shapes s = new Shapes(ck.dir().toString(), t::get);
        Tensor embd = s.matrix("model.embed_tokens.weight", c.hidden, c.vocab);
        float[] outNorm = s.vector("model.norm.weight", c.hidden);
        Tensor output = t.containsKey("lm_head.weight") ? s.matrix("lm_head.weight", c.hidden, c.vocab) : embd;
        boolean mixtral = c.arch.equals("llama");
        LayerWeights[] layers = new LayerWeights[c.layers];
        for (int i = 0; i < c.layers; i++) {
            String b = "model.layers." + i + ".";
            String a = b + "self_attn.";
            LayerWeights w = new LayerWeights();
            w.attnNorm = s.vector(b + "input_layernorm.weight", c.hidden);
            w.wq = s.matrix(a + "q_proj.weight", c.hidden, c.qDim());
            w.wk = s.matrix(a + "k_proj.weight", c.hidden, c.kvDim());
            w.wv = s.matrix(a + "v_proj.weight", c.hidden, c.kvDim());
            w.wo = s.matrix(a + "o_proj.weight", c.qDim(), c.hidden);
            w.bq = s.optionalVector(a + "q_proj.bias", c.qDim());
            w.bk = s.optionalVector(a + "k_proj.bias", c.kvDim());
            w.bv = s.optionalVector(a + "v_proj.bias", c.kvDim());
            w.bo = s.optionalVector(a + "o_proj.bias", c.hidden);
            if (c.qkNorm == ModelConfig.QkNorm.PER_HEAD) {
                w.qNorm = s.vector(a + "q_norm.weight", c.headDim);
                w.kNorm = s.vector(a + "k_norm.weight", c.headDim);
            } else if (c.qkNorm == ModelConfig.QkNorm.WHOLE) {
                w.qNorm = s.vector(a + "q_norm.weight", c.qDim());
                w.kNorm = s.vector(a + "k_norm.weight", c.kvDim());
            }
            w.ffnNorm = s.vector(b + "post_attention_layernorm.weight", c.hidden);
            String m = b + (mixtral ? "block_sparse_moe." : "mlp.");
            w.router = s.matrix(m + "gate.weight", c.hidden, c.experts);
            w.routerBias = s.optionalVector(m + "gate.bias", c.experts);
            // DeepSeek-V3's selection bias (also written by jmoe's trainer for aux-loss-free routing).
            w.selectionBias = s.optionalVector(m + "gate.e_score_correction_bias", c.experts);
            if (t.containsKey(m + "router_scale")) w.routerScale = s.vector(m + "router_scale", c.experts);
            w.expGate = new Tensor[c.experts];
            w.expUp = new Tensor[c.experts];
            w.expDown = new Tensor[c.experts];
            for (int e = 0; e < c.experts; e++) {
                String x = m + "experts." + e + ".";
                w.expGate[e] = s.matrix(x + (mixtral ? "w1" : "gate_proj") + ".weight", c.hidden, c.expertFfn);
                w.expUp[e] = s.matrix(x + (mixtral ? "w3" : "up_proj") + ".weight", c.hidden, c.expertFfn);
                w.expDown[e] = s.matrix(x + (mixtral ? "w2" : "down_proj") + ".weight", c.expertFfn, c.hidden);
            }
            if (c.sharedFfn > 0) {
                String x = m + "shared_expert.";
                w.shGate = s.matrix(x + "gate_proj.weight", c.hidden, c.sharedFfn);
                w.shUp = s.matrix(x + "up_proj.weight", c.hidden, c.sharedFfn);
                w.shDown = s.matrix(x + "down_proj.weight", c.sharedFfn, c.hidden);
                if (t.containsKey(m + "shared_expert_gate.weight")) {
                    w.shGateInp = s.vector(m + "shared_expert_gate.weight", c.hidden);
                    c.sharedGate = ModelConfig.SharedGate.SIGMOID;
                }
            }
            layers[i] = w;
        }
        Tokenizer tok = Tokenizers.fromDirectory(ck.dir(), c.bosId, c.eosId);
        if (tok != null && tok.vocabSize() > c.vocab) {
            throw new JmoeException(ck.dir().toString(), "tokenizer has " + tok.vocabSize() + " tokens but the model only " + c.vocab, "field vocab_size");
        }
        return new Model(ck.dir(), c, embd, outNorm, output, layers, tok, t, ck);
    }
}
