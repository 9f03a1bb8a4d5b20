package org.jmoe.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;
import org.jmoe.format.AtomicFiles;
import org.jmoe.format.GgufType;
import org.jmoe.format.GgufWriter;
import org.jmoe.format.SafetensorsWriter;
import org.jmoe.tensor.DType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Writes a trained model in the two forms the engine loads: a Hugging Face directory ({@code config.json} of a
 * {@code Qwen2MoeForCausalLM}, {@code model.safetensors}, the {@code tokenizer.json}) and a GGUF file (llama.cpp's
 * qwen2moe keys and tensor names, the tokenizer as a gpt2 vocabulary). Both name the router the model was trained
 * with ({@code jmoe_router} / {@code jmoe.router}, a spec the engine's router factory builds), so {@code native}
 * routing at inference is the trained routing; an aux-loss-free selection bias is written as
 * {@code mlp.gate.e_score_correction_bias} / {@code exp_probs_b.bias}.
 */
public final class ModelExport {
    private ModelExport() {}

    public static void writeHf(Path dir, TrainConfig c, ParamTensors p, TrainRouter[] routers, Path tokenizerJson, int eos) {
        try {
            Files.createDirectories(dir);
            if (!dir.resolve("tokenizer.json").toAbsolutePath().equals(tokenizerJson.toAbsolutePath())) {
                Files.copy(tokenizerJson, dir.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new JmoeException(dir.toString(), "cannot write: " + e.getMessage());
        }
        SafetensorsWriter w = new SafetensorsWriter(Map.of("format", "pt"));
        for (ParamTensors.Slot s : p.slots().values()) {
            long[] shape = new long[s.shape().length];
            for (int i = 0; i < shape.length; i++) shape[i] = s.shape()[i];
            int cols = s.shape()[s.shape().length - 1], off = s.offset();
            w.addRows(s.name(), DType.F32, shape, (r, dst) -> System.arraycopy(p.values, off + (int) r * cols, dst, 0, cols));
        }
        for (int l = 0; l < c.layers(); l++) {
            float[] b = routers[l].state(l);
            if (b != null) {
                float[] copy = b.clone();
                w.addRows("model.layers." + l + ".mlp.gate.e_score_correction_bias", DType.F32, new long[]{copy.length},
                        (r, dst) -> System.arraycopy(copy, 0, dst, 0, copy.length));
            }
        }
        w.write(dir.resolve("model.safetensors"));
        ObjectMapper om = new ObjectMapper();
        ObjectNode j = om.createObjectNode();
        j.putArray("architectures").add("Qwen2MoeForCausalLM");
        j.put("model_type", "qwen2_moe");
        j.put("hidden_size", c.hidden());
        j.put("num_hidden_layers", c.layers());
        j.put("num_attention_heads", c.heads());
        j.put("num_key_value_heads", c.kvHeads());
        j.put("head_dim", c.headDim());
        j.put("vocab_size", c.vocab());
        j.put("max_position_embeddings", c.seqLen());
        j.put("rms_norm_eps", c.rmsEps());
        j.put("rope_theta", c.ropeTheta());
        j.put("hidden_act", "silu");
        j.put("num_experts", c.experts());
        j.put("num_experts_per_tok", routers[0].slots());
        j.put("moe_intermediate_size", c.expertFfn());
        j.put("intermediate_size", c.expertFfn());
        j.put("shared_expert_intermediate_size", c.sharedFfn());
        j.put("decoder_sparse_step", 1);
        j.put("norm_topk_prob", routers[0].inferenceSpec().contains("norm=true"));
        j.put("tie_word_embeddings", c.tied());
        j.put("eos_token_id", eos);
        j.put("torch_dtype", "float32");
        j.put("jmoe_router", routers[0].inferenceSpec());
        j.put("jmoe_train_router", routers[0].spec());
        AtomicFiles.write(dir.resolve("config.json"), tmp -> Files.writeString(tmp, om.writerWithDefaultPrettyPrinter().writeValueAsString(j)));
    }

    public static void writeGguf(Path file, TrainConfig c, ParamTensors p, TrainRouter[] routers, Path tokenizerJson, int eos) {
        String a = "qwen2moe";
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", a);
        w.putString("general.name", "jmoe trained " + routers[0].spec());
        w.putU32("general.alignment", 32);
        w.putU32("general.file_type", 0);
        w.putU32(a + ".vocab_size", c.vocab());
        w.putU32(a + ".context_length", c.seqLen());
        w.putU32(a + ".embedding_length", c.hidden());
        w.putU32(a + ".block_count", c.layers());
        w.putU32(a + ".feed_forward_length", c.expertFfn());
        w.putU32(a + ".expert_feed_forward_length", c.expertFfn());
        w.putU32(a + ".attention.head_count", c.heads());
        w.putU32(a + ".attention.head_count_kv", c.kvHeads());
        w.putU32(a + ".attention.key_length", c.headDim());
        w.putU32(a + ".attention.value_length", c.headDim());
        w.putF32(a + ".attention.layer_norm_rms_epsilon", c.rmsEps());
        w.putF32(a + ".rope.freq_base", c.ropeTheta());
        w.putU32(a + ".rope.dimension_count", c.headDim());
        w.putU32(a + ".expert_count", c.experts());
        w.putU32(a + ".expert_used_count", routers[0].slots());
        w.putBool(a + ".expert_weights_norm", routers[0].inferenceSpec().contains("norm=true"));
        if (c.sharedFfn() > 0) w.putU32(a + ".expert_shared_feed_forward_length", c.sharedFfn());
        w.putString("jmoe.router", routers[0].inferenceSpec());
        Vocabulary v = Vocabulary.read(tokenizerJson, c.vocab());
        w.putString("tokenizer.ggml.model", "gpt2");
        w.putString("tokenizer.ggml.pre", "default");
        w.putArray("tokenizer.ggml.tokens", GgufType.STRING, v.tokens);
        w.putArray("tokenizer.ggml.token_type", GgufType.INT32, v.types);
        w.putArray("tokenizer.ggml.merges", GgufType.STRING, v.merges);
        w.putU32("tokenizer.ggml.eos_token_id", eos);
        w.putU32("tokenizer.ggml.padding_token_id", eos);
        w.putBool("tokenizer.ggml.add_bos_token", false);

        long H = c.hidden(), QD = c.qDim(), KD = c.kvDim(), F = c.expertFfn(), E = c.experts(), V = c.vocab();
        w.addTensorRows("token_embd.weight", DType.F32, new long[]{H, V}, rows(p, p.embed, (int) H));
        w.addTensorRows("output_norm.weight", DType.F32, new long[]{H}, rows(p, p.finalNorm, (int) H));
        if (!c.tied()) w.addTensorRows("output.weight", DType.F32, new long[]{H, V}, rows(p, p.lmHead, (int) H));
        for (int l = 0; l < c.layers(); l++) {
            String b = "blk." + l + ".";
            ParamTensors.Layer x = p.layers[l];
            w.addTensorRows(b + "attn_norm.weight", DType.F32, new long[]{H}, rows(p, x.attnNorm(), (int) H));
            w.addTensorRows(b + "attn_q.weight", DType.F32, new long[]{H, QD}, rows(p, x.wq(), (int) H));
            w.addTensorRows(b + "attn_k.weight", DType.F32, new long[]{H, KD}, rows(p, x.wk(), (int) H));
            w.addTensorRows(b + "attn_v.weight", DType.F32, new long[]{H, KD}, rows(p, x.wv(), (int) H));
            w.addTensorRows(b + "attn_output.weight", DType.F32, new long[]{QD, H}, rows(p, x.wo(), (int) QD));
            w.addTensorRows(b + "ffn_norm.weight", DType.F32, new long[]{H}, rows(p, x.ffnNorm(), (int) H));
            w.addTensorRows(b + "ffn_gate_inp.weight", DType.F32, new long[]{H, E}, rows(p, x.router(), (int) H));
            SwiGlu.Weights[] ex = x.experts();
            w.addTensorRows(b + "ffn_gate_exps.weight", DType.F32, new long[]{H, F, E}, (r, dst) -> copyRow(p, ex[(int) (r / F)].gate(), (int) (r % F), dst));
            w.addTensorRows(b + "ffn_up_exps.weight", DType.F32, new long[]{H, F, E}, (r, dst) -> copyRow(p, ex[(int) (r / F)].up(), (int) (r % F), dst));
            w.addTensorRows(b + "ffn_down_exps.weight", DType.F32, new long[]{F, H, E}, (r, dst) -> copyRow(p, ex[(int) (r / H)].down(), (int) (r % H), dst));
            if (x.shared() != null) {
                long SF = c.sharedFfn();
                w.addTensorRows(b + "ffn_gate_shexp.weight", DType.F32, new long[]{H, SF}, rows(p, x.shared().gate(), (int) H));
                w.addTensorRows(b + "ffn_up_shexp.weight", DType.F32, new long[]{H, SF}, rows(p, x.shared().up(), (int) H));
                w.addTensorRows(b + "ffn_down_shexp.weight", DType.F32, new long[]{SF, H}, rows(p, x.shared().down(), (int) SF));
            }
            float[] bias = routers[l].state(l);
            if (bias != null) {
                float[] copy = bias.clone();
                w.addTensorRows(b + "exp_probs_b.bias", DType.F32, new long[]{E}, (r, dst) -> System.arraycopy(copy, 0, dst, 0, copy.length));
            }
        }
        w.write(file);
    }

    private static GgufWriter.RowSource rows(ParamTensors p, int off, int cols) {
        return (r, dst) -> System.arraycopy(p.values, off + (int) r * cols, dst, 0, cols);
    }

    private static void copyRow(ParamTensors p, int off, int row, float[] dst) {
        System.arraycopy(p.values, off + row * dst.length, dst, 0, dst.length);
    }

    /** A tokenizer.json's vocabulary as GGUF arrays, padded with unused tokens to the model's vocabulary size. */
    private record Vocabulary(String[] tokens, int[] types, String[] merges) {
        static Vocabulary read(Path file, int vocab) {
            JsonNode root;
            try {
                root = new ObjectMapper().readTree(Files.readString(file));
            } catch (IOException e) {
                throw new JmoeException(file.toString(), "cannot read: " + e.getMessage());
            }
            String[] tokens = new String[vocab];
            int[] types = new int[vocab];
            for (Iterator<Map.Entry<String, JsonNode>> it = root.path("model").path("vocab").properties().iterator(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                int id = e.getValue().asInt();
                if (id >= 0 && id < vocab) {
                    tokens[id] = e.getKey();
                    types[id] = 1;
                }
            }
            for (JsonNode a : root.path("added_tokens")) {
                int id = a.path("id").asInt();
                if (id >= 0 && id < vocab) {
                    tokens[id] = a.path("content").asText();
                    types[id] = a.path("special").asBoolean() ? 3 : 4;
                }
            }
            for (int i = 0; i < vocab; i++) {
                if (tokens[i] == null) {
                    tokens[i] = "[UNUSED_" + i + "]";
                    types[i] = 5;
                }
            }
            List<String> merges = new ArrayList<>();
            for (JsonNode m : root.path("model").path("merges")) merges.add(m.asText());
            return new Vocabulary(tokens, types, merges.toArray(new String[0]));
        }
    }
}
