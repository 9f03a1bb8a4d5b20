package org.jmoe.model;

import org.jmoe.Reference;
import org.jmoe.format.GgufFile;
import org.jmoe.format.SafetensorsWriter;
import org.jmoe.tensor.Tensor;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hugging Face checkpoints: the reference GGUF models re-written with HF tensor names and config.json (these
 * architectures use the same NEOX RoPE and unpermuted weights in both forms) must give llama.cpp's logits.
 */
class HfLoaderTest {
    @TempDir
    Path dir;

    static long[] hfShape(Tensor t) {
        return t.dims() == 1 ? new long[]{t.ne(0)} : new long[]{t.ne(1), t.ne(0)};
    }

    @ParameterizedTest
    @CsvSource({"qwen3moe,Qwen3MoeForCausalLM,2", "qwen2moe,Qwen2MoeForCausalLM,1", "olmoe,OlmoeForCausalLM,1"})
    void referenceModelsAsHfCheckpoints(String name, String arch, int shards) throws Exception {
        Path ck = dir.resolve(name);
        Files.createDirectories(ck);
        try (GgufFile f = GgufFile.open(Reference.model(name + ".gguf")); Model m = GgufModelLoader.load(Reference.model(name + ".gguf"))) {
            ModelConfig c = m.config();
            SafetensorsWriter[] w = new SafetensorsWriter[shards];
            for (int i = 0; i < shards; i++) w[i] = new SafetensorsWriter(Map.of("format", "pt"));
            StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
            int[] count = {0};
            java.util.function.BiConsumer<String, Tensor> put = (hf, t) -> {
                int s = count[0]++ % shards;
                w[s].add(hf, t.type(), hfShape(t), out -> out.write(t.data().asByteBuffer()));
                index.append(count[0] > 1 ? ", " : "").append('"').append(hf).append("\": \"model-0000").append(s + 1).append(".safetensors\"");
            };
            put.accept("model.embed_tokens.weight", f.require("token_embd.weight"));
            put.accept("lm_head.weight", f.require("output.weight"));
            put.accept("model.norm.weight", f.require("output_norm.weight"));
            for (int l = 0; l < c.layers; l++) {
                String b = "blk." + l + ".", h = "model.layers." + l + ".";
                put.accept(h + "input_layernorm.weight", f.require(b + "attn_norm.weight"));
                put.accept(h + "post_attention_layernorm.weight", f.require(b + "ffn_norm.weight"));
                for (String[] p : new String[][]{{"q", "attn_q"}, {"k", "attn_k"}, {"v", "attn_v"}, {"o", "attn_output"}}) {
                    put.accept(h + "self_attn." + p[0] + "_proj.weight", f.require(b + p[1] + ".weight"));
                    if (f.tensor(b + p[1] + ".bias") != null) put.accept(h + "self_attn." + p[0] + "_proj.bias", f.require(b + p[1] + ".bias"));
                }
                if (f.tensor(b + "attn_q_norm.weight") != null) {
                    put.accept(h + "self_attn.q_norm.weight", f.require(b + "attn_q_norm.weight"));
                    put.accept(h + "self_attn.k_norm.weight", f.require(b + "attn_k_norm.weight"));
                }
                put.accept(h + "mlp.gate.weight", f.require(b + "ffn_gate_inp.weight"));
                for (int e = 0; e < c.experts; e++) {
                    put.accept(h + "mlp.experts." + e + ".gate_proj.weight", f.require(b + "ffn_gate_exps.weight").slice(e));
                    put.accept(h + "mlp.experts." + e + ".up_proj.weight", f.require(b + "ffn_up_exps.weight").slice(e));
                    put.accept(h + "mlp.experts." + e + ".down_proj.weight", f.require(b + "ffn_down_exps.weight").slice(e));
                }
                if (f.tensor(b + "ffn_up_shexp.weight") != null) {
                    put.accept(h + "mlp.shared_expert.gate_proj.weight", f.require(b + "ffn_gate_shexp.weight"));
                    put.accept(h + "mlp.shared_expert.up_proj.weight", f.require(b + "ffn_up_shexp.weight"));
                    put.accept(h + "mlp.shared_expert.down_proj.weight", f.require(b + "ffn_down_shexp.weight"));
                    put.accept(h + "mlp.shared_expert_gate.weight", f.require(b + "ffn_gate_inp_shexp.weight"));
                }
            }
            if (shards == 1) {
                w[0].write(ck.resolve("model.safetensors"));
            } else {
                for (int i = 0; i < shards; i++) w[i].write(ck.resolve("model-0000" + (i + 1) + ".safetensors"));
                Files.writeString(ck.resolve("model.safetensors.index.json"), index.append("}}").toString());
            }
            Files.writeString(ck.resolve("config.json"), """
                    {"architectures": ["%s"], "hidden_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d,
                     "num_key_value_heads": %d, "head_dim": %d, "vocab_size": %d, "rms_norm_eps": %s, "rope_theta": %s,
                     "num_experts": %d, "num_experts_per_tok": %d, "moe_intermediate_size": %d,
                     "shared_expert_intermediate_size": %d, "norm_topk_prob": %s, "max_position_embeddings": 256}
                    """.formatted(arch, c.hidden, c.layers, c.heads, c.kvHeads, c.headDim, c.vocab, Float.toString(c.rmsEps),
                    Double.toString(c.ropeTheta), c.experts, c.expertsUsed, c.expertFfn, c.sharedFfn, c.normTopK));
        }
        Reference.Logits ref = Reference.logits(name);
        try (Model m = ModelLoader.load(ck)) {
            int V = m.config().vocab;
            float[] out = new float[ref.tokens().length * V];
            new Forward(m, 16).eval(ref.tokens(), out, true);
            for (int t = 0; t < ref.tokens().length; t++) {
                float[] row = java.util.Arrays.copyOfRange(out, t * V, (t + 1) * V);
                // same tolerance as ReferenceLogitsTest: float32 vs llama.cpp, 1e-4 relative
                float tol = 1e-4f * Math.max(1f, ReferenceLogitsTest.maxAbs(ref.logits()[t]));
                assertThat(ReferenceLogitsTest.maxAbsDiff(row, ref.logits()[t])).as("%s position %d", name, t).isLessThanOrEqualTo(tol);
            }
        }
    }

    /**
     * Mixtral: llama.cpp's converter permutes the q/k rows of each head so that RoPE rotates adjacent pairs;
     * HF checkpoints keep the halves. Undoing that permutation on llama_moe.gguf and naming the tensors as
     * MixtralForCausalLM does (block_sparse_moe, w1/w2/w3) must give llama.cpp's logits with NEOX RoPE.
     */
    @org.junit.jupiter.api.Test
    void mixtralCheckpointWithHfRopeLayout() throws Exception {
        Path ck = dir.resolve("mixtral");
        Files.createDirectories(ck);
        try (GgufFile f = GgufFile.open(Reference.model("llama_moe.gguf")); Model m = GgufModelLoader.load(Reference.model("llama_moe.gguf"))) {
            ModelConfig c = m.config();
            SafetensorsWriter w = new SafetensorsWriter(Map.of());
            java.util.function.BiConsumer<String, Tensor> put = (hf, t) -> w.add(hf, t.type(), hfShape(t), out -> out.write(t.data().asByteBuffer()));
            put.accept("model.embed_tokens.weight", f.require("token_embd.weight"));
            put.accept("lm_head.weight", f.require("output.weight"));
            put.accept("model.norm.weight", f.require("output_norm.weight"));
            for (int l = 0; l < c.layers; l++) {
                String b = "blk." + l + ".", h = "model.layers." + l + ".";
                put.accept(h + "input_layernorm.weight", f.require(b + "attn_norm.weight"));
                put.accept(h + "post_attention_layernorm.weight", f.require(b + "ffn_norm.weight"));
                unpermute(w, h + "self_attn.q_proj.weight", f.require(b + "attn_q.weight"), c.heads, c.headDim);
                unpermute(w, h + "self_attn.k_proj.weight", f.require(b + "attn_k.weight"), c.kvHeads, c.headDim);
                put.accept(h + "self_attn.v_proj.weight", f.require(b + "attn_v.weight"));
                put.accept(h + "self_attn.o_proj.weight", f.require(b + "attn_output.weight"));
                put.accept(h + "block_sparse_moe.gate.weight", f.require(b + "ffn_gate_inp.weight"));
                for (int e = 0; e < c.experts; e++) {
                    put.accept(h + "block_sparse_moe.experts." + e + ".w1.weight", f.require(b + "ffn_gate_exps.weight").slice(e));
                    put.accept(h + "block_sparse_moe.experts." + e + ".w3.weight", f.require(b + "ffn_up_exps.weight").slice(e));
                    put.accept(h + "block_sparse_moe.experts." + e + ".w2.weight", f.require(b + "ffn_down_exps.weight").slice(e));
                }
            }
            w.write(ck.resolve("model.safetensors"));
            Files.writeString(ck.resolve("config.json"), """
                    {"architectures": ["MixtralForCausalLM"], "hidden_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d,
                     "num_key_value_heads": %d, "vocab_size": %d, "rms_norm_eps": %s, "rope_theta": %s, "intermediate_size": %d,
                     "num_local_experts": %d, "num_experts_per_tok": %d, "max_position_embeddings": 256}
                    """.formatted(c.hidden, c.layers, c.heads, c.kvHeads, c.vocab, Float.toString(c.rmsEps), Double.toString(c.ropeTheta),
                    c.expertFfn, c.experts, c.expertsUsed));
        }
        Reference.Logits ref = Reference.logits("llama_moe");
        try (Model m = ModelLoader.load(ck)) {
            assertThat(m.config().ropeType).isEqualTo(ModelConfig.RopeType.NEOX);
            int V = m.config().vocab;
            float[] out = new float[ref.tokens().length * V];
            new Forward(m, 16).eval(ref.tokens(), out, true);
            for (int t = 0; t < ref.tokens().length; t++) {
                float tol = 1e-4f * Math.max(1f, ReferenceLogitsTest.maxAbs(ref.logits()[t]));
                assertThat(ReferenceLogitsTest.maxAbsDiff(java.util.Arrays.copyOfRange(out, t * V, (t + 1) * V), ref.logits()[t])).isLessThanOrEqualTo(tol);
            }
        }
    }

    /** HF row h*d + j*d/2 + i is GGUF row h*d + 2i + j (the converter's per-head permutation, inverted). */
    private static void unpermute(SafetensorsWriter w, String name, Tensor t, int heads, int d) {
        long rowBytes = t.rowBytes();
        w.add(name, t.type(), hfShape(t), out -> {
            for (int h = 0; h < heads; h++) {
                for (int j = 0; j < 2; j++) {
                    for (int i = 0; i < d / 2; i++) {
                        long g = (long) h * d + 2L * i + j;
                        out.write(t.data().asSlice(g * rowBytes, rowBytes).asByteBuffer());
                    }
                }
            }
        });
    }
}
