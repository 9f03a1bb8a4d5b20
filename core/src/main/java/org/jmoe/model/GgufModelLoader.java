package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.format.GgufFile;
import org.jmoe.tensor.Tensor;
import org.jmoe.tokenizer.Tokenizer;
import org.jmoe.tokenizer.Tokenizers;

import java.nio.file.Path;
import java.util.Set;

/**
 * Builds a {@link Model} from a GGUF file: reads llama.cpp's metadata keys into a {@link ModelConfig} and
 * checks every tensor the architecture needs against the shape the config implies.
 */
public final class GgufModelLoader {
    /** GGUF architectures jmoe runs (names as in {@code general.architecture}). */
    public static final Set<String> ARCHS = Set.of("llama", "mixtral", "qwen2moe", "qwen3moe", "olmoe", "granitemoe",
            "granitemoeshared", "deepseek", "qwen2", "qwen3");

    private GgufModelLoader() {}

    public static Model load(Path path) {
        GgufFile f = GgufFile.open(path);
        try {
            ModelConfig c = config(f);
            return build(f, c);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    static ModelConfig config(GgufFile f) {
        String who = f.path().toString();
        String arch = f.getString("general.architecture", null);
        if (arch == null) throw new JmoeException(who, "missing metadata key", "key general.architecture");
        if (!ARCHS.contains(arch)) {
            throw new JmoeException(who, "unsupported architecture '" + arch + "' (jmoe runs " + String.join(", ", ARCHS.stream().sorted().toList()) + ")", "key general.architecture");
        }
        ModelConfig c = new ModelConfig();
        c.arch = arch.equals("mixtral") ? "llama" : arch;
        c.archDisplay = arch;
        c.name = f.getString("general.name", "");
        c.nativeRouter = f.getString("jmoe.router", null);
        String p = arch + ".";
        c.hidden = positive(f, p + "embedding_length");
        c.layers = positive(f, p + "block_count");
        c.heads = positive(f, p + "attention.head_count");
        c.kvHeads = (int) f.getLong(p + "attention.head_count_kv", c.heads);
        if (c.kvHeads <= 0 || c.heads % c.kvHeads != 0) {
            throw new JmoeException(who, "attention.head_count " + c.heads + " is not a multiple of head_count_kv " + c.kvHeads, "key " + p + "attention.head_count_kv");
        }
        c.headDim = (int) f.getLong(p + "attention.key_length", c.hidden / c.heads);
        long vlen = f.getLong(p + "attention.value_length", c.headDim);
        if (vlen != c.headDim) throw new JmoeException(who, "value_length " + vlen + " != key_length " + c.headDim + " is not supported", "key " + p + "attention.value_length");
        c.contextLength = (int) Math.min(Integer.MAX_VALUE, f.getLong(p + "context_length", 4096));
        c.rmsEps = (float) f.getDouble(p + "attention.layer_norm_rms_epsilon", 1e-6);
        c.ropeTheta = f.getDouble(p + "rope.freq_base", 10000);
        c.ropeDim = (int) f.getLong(p + "rope.dimension_count", c.headDim);
        String scaling = f.getString(p + "rope.scaling.type", "none");
        double factor = f.getDouble(p + "rope.scaling.factor", 1);
        switch (scaling) {
            case "none" -> { }
            case "linear" -> c.ropeLinearFactor = factor;
            case "yarn" -> {
                c.ropeYarnFactor = factor;
                c.ropeYarnOrigCtx = (int) f.getLong(p + "rope.scaling.original_context_length", c.contextLength);
                c.ropeYarnBetaFast = f.getDouble(p + "rope.scaling.yarn_beta_fast", 32);
                c.ropeYarnBetaSlow = f.getDouble(p + "rope.scaling.yarn_beta_slow", 1);
            }
            default -> throw new JmoeException(who, "unsupported rope scaling type '" + scaling + "'", "key " + p + "rope.scaling.type");
        }
        c.denseFfn = (int) f.getLong(p + "feed_forward_length", 0);
        c.experts = (int) f.getLong(p + "expert_count", 0);
        c.expertsUsed = (int) f.getLong(p + "expert_used_count", 0);
        c.expertFfn = (int) f.getLong(p + "expert_feed_forward_length", c.denseFfn);
        c.leadingDenseLayers = (int) f.getLong(p + "leading_dense_block_count", 0);
        if (c.experts > 0 && (c.expertsUsed <= 0 || c.expertsUsed > c.experts)) {
            throw new JmoeException(who, "expert_used_count " + c.expertsUsed + " must be in 1.." + c.experts, "key " + p + "expert_used_count");
        }
        // Architecture semantics, as llama.cpp applies them.
        switch (c.arch) {
            case "qwen2moe", "qwen3moe", "olmoe", "qwen2", "qwen3" -> c.ropeType = ModelConfig.RopeType.NEOX;
            default -> c.ropeType = ModelConfig.RopeType.NORM;
        }
        c.qkNorm = switch (c.arch) {
            case "qwen3moe", "qwen3" -> ModelConfig.QkNorm.PER_HEAD;
            case "olmoe" -> ModelConfig.QkNorm.WHOLE;
            default -> ModelConfig.QkNorm.NONE;
        };
        c.normTopK = switch (c.arch) {
            case "llama", "qwen3moe", "granitemoe", "granitemoeshared" -> true;
            default -> false;
        };
        c.normTopK = f.getBool(p + "expert_weights_norm", c.normTopK);
        c.weightsScale = (float) f.getDouble(p + "expert_weights_scale", 1.0);
        if (c.weightsScale == 0f) c.weightsScale = 1f;
        long gating = f.getLong(p + "expert_gating_func", 1);
        c.gating = switch ((int) gating) {
            case 1 -> ModelConfig.Gating.SOFTMAX;
            case 2 -> ModelConfig.Gating.SIGMOID;
            case 3 -> ModelConfig.Gating.SOFTMAX_AFTER_TOPK;
            default -> throw new JmoeException(who, "unknown expert_gating_func " + gating + " (1 softmax, 2 sigmoid, 3 softmax after top-k)", "key " + p + "expert_gating_func");
        };
        c.groups = (int) f.getLong(p + "expert_group_count", 1);
        c.groupsUsed = (int) f.getLong(p + "expert_group_used_count", c.groups);
        if (c.groups > 1) {
            if (c.experts % c.groups != 0 || c.groupsUsed < 1 || c.groupsUsed > c.groups) {
                throw new JmoeException(who, "expert_group_count " + c.groups + " / expert_group_used_count " + c.groupsUsed + " do not fit " + c.experts + " experts", "key " + p + "expert_group_count");
            }
            c.routing = ModelConfig.Routing.GROUP_LIMITED;
        }
        long shared = f.getLong(p + "expert_shared_count", 0);
        long sharedFfn = f.getLong(p + "expert_shared_feed_forward_length", 0);
        if (sharedFfn > 0) c.sharedFfn = (int) sharedFfn;
        else if (shared > 0) c.sharedFfn = (int) (shared * c.expertFfn);
        if (c.arch.startsWith("granite")) {
            c.embeddingScale = (float) f.getDouble(p + "embedding_scale", 1);
            c.residualScale = (float) f.getDouble(p + "residual_scale", 1);
            c.attentionScale = (float) f.getDouble(p + "attention.scale", 0);
            c.logitScale = (float) f.getDouble(p + "logit_scale", 1);
        }
        c.bosId = (int) f.getLong("tokenizer.ggml.bos_token_id", -1);
        c.eosId = (int) f.getLong("tokenizer.ggml.eos_token_id", -1);
        c.validate(f.path().toString());
        return c;
    }

    private static int positive(GgufFile f, String key) {
        Object v = f.get(key);
        if (v == null) throw new JmoeException(f.path().toString(), "missing metadata key", "key " + key);
        long n = f.getLong(key, 0);
        if (n <= 0 || n > (1 << 24)) throw new JmoeException(f.path().toString(), "absurd value " + n, "key " + key);
        return (int) n;
    }

    private static Model build(GgufFile f, ModelConfig c) {
        Shapes s = new Shapes(f.path().toString(), f::tensor);
        Tensor embd = s.matrix("token_embd.weight", c.hidden, -1);
        c.vocab = embd.rows();
        float[] outNorm = s.vector("output_norm.weight", c.hidden);
        Tensor output = f.tensor("output.weight") != null ? s.matrix("output.weight", c.hidden, c.vocab) : embd;
        LayerWeights[] layers = new LayerWeights[c.layers];
        for (int i = 0; i < c.layers; i++) {
            String b = "blk." + i + ".";
            LayerWeights w = new LayerWeights();
            w.attnNorm = s.vector(b + "attn_norm.weight", c.hidden);
            w.wq = s.matrix(b + "attn_q.weight", c.hidden, c.qDim());
            w.wk = s.matrix(b + "attn_k.weight", c.hidden, c.kvDim());
            w.wv = s.matrix(b + "attn_v.weight", c.hidden, c.kvDim());
            w.wo = s.matrix(b + "attn_output.weight", c.qDim(), c.hidden);
            w.bq = s.optionalVector(b + "attn_q.bias", c.qDim());
            w.bk = s.optionalVector(b + "attn_k.bias", c.kvDim());
            w.bv = s.optionalVector(b + "attn_v.bias", c.kvDim());
            w.bo = s.optionalVector(b + "attn_output.bias", c.hidden);
            switch (c.qkNorm) {
                case PER_HEAD -> {
                    w.qNorm = s.vector(b + "attn_q_norm.weight", c.headDim);
                    w.kNorm = s.vector(b + "attn_k_norm.weight", c.headDim);
                }
                case WHOLE -> {
                    w.qNorm = s.vector(b + "attn_q_norm.weight", c.qDim());
                    w.kNorm = s.vector(b + "attn_k_norm.weight", c.kvDim());
                }
                case NONE -> { }
            }
            w.ffnNorm = s.vector(b + "ffn_norm.weight", c.hidden);
            if (c.isMoeLayer(i)) {
                w.router = s.matrix(b + "ffn_gate_inp.weight", c.hidden, c.experts);
                w.selectionBias = s.optionalVector(b + "exp_probs_b.bias", c.experts);
                w.routerBias = s.optionalVector(b + "ffn_gate_inp.bias", c.experts);
                Tensor g = s.stack(b + "ffn_gate_exps.weight", c.hidden, c.expertFfn, c.experts);
                Tensor u = s.stack(b + "ffn_up_exps.weight", c.hidden, c.expertFfn, c.experts);
                Tensor d = s.stack(b + "ffn_down_exps.weight", c.expertFfn, c.hidden, c.experts);
                w.expGate = new Tensor[c.experts];
                w.expUp = new Tensor[c.experts];
                w.expDown = new Tensor[c.experts];
                for (int e = 0; e < c.experts; e++) {
                    w.expGate[e] = g.slice(e);
                    w.expUp[e] = u.slice(e);
                    w.expDown[e] = d.slice(e);
                }
                if (f.tensor(b + "ffn_up_shexp.weight") != null) {
                    if (c.sharedFfn == 0) c.sharedFfn = f.tensor(b + "ffn_up_shexp.weight").rows();
                    w.shGate = s.matrix(b + "ffn_gate_shexp.weight", c.hidden, c.sharedFfn);
                    w.shUp = s.matrix(b + "ffn_up_shexp.weight", c.hidden, c.sharedFfn);
                    w.shDown = s.matrix(b + "ffn_down_shexp.weight", c.sharedFfn, c.hidden);
                    w.shGateInp = s.optionalVector(b + "ffn_gate_inp_shexp.weight", c.hidden);
                    if (w.shGateInp != null) c.sharedGate = ModelConfig.SharedGate.SIGMOID;
                }
            } else {
                int ffn = c.denseFfn;
                if (ffn == 0) throw new JmoeException(f.path().toString(), "dense layer but no feed_forward_length", "blk." + i);
                w.ffnGate = s.matrix(b + "ffn_gate.weight", c.hidden, ffn);
                w.ffnUp = s.matrix(b + "ffn_up.weight", c.hidden, ffn);
                w.ffnDown = s.matrix(b + "ffn_down.weight", ffn, c.hidden);
            }
            layers[i] = w;
        }
        Tokenizer tok = Tokenizers.fromGguf(f.path().toString(), f.metadata());
        if (tok != null && tok.vocabSize() != c.vocab) {
            throw new JmoeException(f.path().toString(), "vocabulary has " + tok.vocabSize() + " tokens but token_embd has " + c.vocab + " rows", "key tokenizer.ggml.tokens");
        }
        return new Model(f.path(), c, embd, outNorm, output, layers, tok, f.tensors(), f);
    }
}
