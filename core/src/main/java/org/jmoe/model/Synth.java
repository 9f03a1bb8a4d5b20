package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.format.AtomicFiles;
import org.jmoe.format.GgufType;
import org.jmoe.format.GgufWriter;
import org.jmoe.format.RowEncoder;
import org.jmoe.format.SafetensorsWriter;
import org.jmoe.tensor.DType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random-weight models of the supported architectures, for tests, benchmarks and demos without downloads
 * (as vLLM's dummy weights). Weights are uniform with standard deviation 1/sqrt(fan-in), so activations keep
 * their scale through the layers; norms are 1 with a little noise. The same seed gives the same bytes.
 * GGUF architectures get llama.cpp's metadata keys, tensor names and a byte-level BPE vocabulary; Pangu Pro
 * MoE is written as its published form, {@code config.json} + {@code model.safetensors}.
 */
public final class Synth {
    public static final List<String> ARCHS = List.of("qwen3moe", "mixtral", "qwen2moe", "olmoe", "granitemoe", "pangu-moe");
    public static final List<String> PRESETS = List.of("tiny", "small", "bench-1b");

    /** Sizes of a preset. */
    public record Shape(int hidden, int layers, int heads, int kvHeads, int headDim, int experts, int used, int expertFfn,
                        int sharedFfn, int vocab, int ctx) {
        /** Parameters the model will have. */
        public long params(String arch) {
            long attn = (long) hidden * heads * headDim * 2 + (long) hidden * kvHeads * headDim * 2;
            long moe = (long) experts * 3 * hidden * expertFfn + (long) experts * hidden + (long) sharedFfn * 3 * hidden;
            if (arch.equals("qwen2moe")) moe += hidden;
            long norms = 2L * hidden + (arch.equals("qwen3moe") ? 2L * headDim : 0) + (arch.equals("olmoe") ? (long) (heads + kvHeads) * headDim : 0);
            long biases = arch.equals("qwen2moe") ? (long) (heads + 2 * kvHeads) * headDim : arch.equals("pangu-moe") ? (long) (heads + 2 * kvHeads) * headDim + hidden + experts : 0;
            return layers * (attn + moe + norms + biases) + 2L * vocab * hidden + hidden;
        }
    }

    private Synth() {}

    public static Shape shape(String arch, String preset) {
        boolean shared = arch.equals("qwen2moe") || arch.equals("pangu-moe");
        boolean mha = arch.equals("olmoe"); // OLMoE has no grouped-query attention (llama.cpp: k_norm is n_embd wide)
        return switch (preset) {
            case "tiny" -> new Shape(64, 2, 4, mha ? 4 : 2, 16, arch.equals("pangu-moe") ? 16 : 8, arch.equals("pangu-moe") ? 4 : 2, 64, shared ? 128 : 0, 512, 512);
            case "small" -> new Shape(256, 4, 8, mha ? 8 : 2, 32, 16, 4, 256, shared ? 512 : 0, 2048, 2048);
            case "bench-1b" -> new Shape(1024, 16, 16, mha ? 16 : 4, 64, 64, 8, 512, shared ? 1024 : 0, 32000, 4096);
            default -> throw new JmoeException("--preset", "unknown preset '" + preset + "' (one of " + String.join(", ", PRESETS) + ")");
        };
    }

    /** Writes a synthetic model; returns the path written (a file, or a directory for pangu-moe). */
    public static Path write(String arch, String preset, DType dtype, long seed, Path out) {
        if (!ARCHS.contains(arch)) throw new JmoeException("--arch", "unknown architecture '" + arch + "' (one of " + String.join(", ", ARCHS) + ")");
        return write(arch, preset, shape(arch, preset), dtype, seed, out);
    }

    /** Writes a synthetic model of any shape (tests use very small ones); {@code name} is recorded as its preset. */
    public static Path write(String arch, String name, Shape s, DType dtype, long seed, Path out) {
        if (!ARCHS.contains(arch)) throw new JmoeException("--arch", "unknown architecture '" + arch + "' (one of " + String.join(", ", ARCHS) + ")");
        String preset = name;
        if (arch.equals("pangu-moe")) {
            if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
                throw new JmoeException("--dtype", "Pangu Pro MoE is written as safetensors, which holds F32, F16 or BF16, not " + dtype);
            }
            writePangu(s, dtype, seed, out);
            return out;
        }
        if (!RowEncoder.canEncode(dtype)) throw new JmoeException("--dtype", "cannot write " + dtype + " weights");
        if (dtype.isQuantized() && (s.hidden() % dtype.blockSize() != 0 || s.expertFfn() % dtype.blockSize() != 0
                || s.heads() * s.headDim() % dtype.blockSize() != 0 || s.sharedFfn() % dtype.blockSize() != 0)) {
            throw new JmoeException("--dtype", dtype + " needs rows that are a multiple of " + dtype.blockSize() + " values; preset " + preset
                    + " has rows of " + Math.min(s.hidden(), s.expertFfn()));
        }
        writeGguf(arch, preset, s, dtype, seed, out);
        return out;
    }

    private static void writeGguf(String arch, String preset, Shape s, DType dtype, long seed, Path out) {
        String a = arch.equals("mixtral") ? "llama" : arch;
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", a);
        w.putString("general.name", "jmoe synthetic " + arch + " " + preset);
        w.putU32("general.alignment", 32);
        w.putU32("general.file_type", fileType(dtype));
        w.putU32(a + ".vocab_size", s.vocab());
        w.putU32(a + ".context_length", s.ctx());
        w.putU32(a + ".embedding_length", s.hidden());
        w.putU32(a + ".block_count", s.layers());
        w.putU32(a + ".feed_forward_length", s.expertFfn());
        w.putU32(a + ".expert_feed_forward_length", s.expertFfn());
        w.putU32(a + ".attention.head_count", s.heads());
        w.putU32(a + ".attention.head_count_kv", s.kvHeads());
        w.putU32(a + ".attention.key_length", s.headDim());
        w.putU32(a + ".attention.value_length", s.headDim());
        w.putF32(a + ".attention.layer_norm_rms_epsilon", 1e-6);
        w.putF32(a + ".rope.freq_base", arch.equals("olmoe") ? 10000 : 1000000);
        w.putU32(a + ".rope.dimension_count", s.headDim());
        w.putU32(a + ".expert_count", s.experts());
        w.putU32(a + ".expert_used_count", s.used());
        if (s.sharedFfn() > 0) w.putU32(a + ".expert_shared_feed_forward_length", s.sharedFfn());
        if (arch.equals("granitemoe")) {
            w.putF32(a + ".embedding_scale", 12.0);
            w.putF32(a + ".residual_scale", 0.22);
            w.putF32(a + ".attention.scale", 0.0078125);
            w.putF32(a + ".logit_scale", 6.0);
        }
        SynthVocab v = new SynthVocab(s.vocab());
        w.putString("tokenizer.ggml.model", "gpt2");
        w.putString("tokenizer.ggml.pre", arch.startsWith("qwen") ? "qwen2" : "default");
        w.putArray("tokenizer.ggml.tokens", GgufType.STRING, v.tokens);
        w.putArray("tokenizer.ggml.token_type", GgufType.INT32, v.types);
        w.putArray("tokenizer.ggml.merges", GgufType.STRING, v.merges);
        w.putU32("tokenizer.ggml.bos_token_id", v.bos);
        w.putU32("tokenizer.ggml.eos_token_id", v.eos);
        w.putU32("tokenizer.ggml.padding_token_id", v.eos);
        w.putBool("tokenizer.ggml.add_bos_token", false);

        long H = s.hidden(), QD = (long) s.heads() * s.headDim(), KD = (long) s.kvHeads() * s.headDim(), F = s.expertFfn(), E = s.experts(), V = s.vocab();
        double rH = 1 / Math.sqrt(H);
        Gen g = new Gen(seed);
        w.addTensorRows("token_embd.weight", dtype, new long[]{H, V}, g.matrix("token_embd", 1.0));
        w.addTensorRows("output_norm.weight", DType.F32, new long[]{H}, g.norm("output_norm"));
        w.addTensorRows("output.weight", dtype, new long[]{H, V}, g.matrix("output", rH));
        for (int l = 0; l < s.layers(); l++) {
            String b = "blk." + l + ".";
            w.addTensorRows(b + "attn_norm.weight", DType.F32, new long[]{H}, g.norm(b + "attn_norm"));
            w.addTensorRows(b + "attn_q.weight", dtype, new long[]{H, QD}, g.matrix(b + "attn_q", rH));
            w.addTensorRows(b + "attn_k.weight", dtype, new long[]{H, KD}, g.matrix(b + "attn_k", rH));
            w.addTensorRows(b + "attn_v.weight", dtype, new long[]{H, KD}, g.matrix(b + "attn_v", rH));
            w.addTensorRows(b + "attn_output.weight", dtype, new long[]{QD, H}, g.matrix(b + "attn_output", 1 / Math.sqrt(QD)));
            if (arch.equals("qwen2moe")) {
                w.addTensorRows(b + "attn_q.bias", DType.F32, new long[]{QD}, g.matrix(b + "attn_q.bias", 0.02));
                w.addTensorRows(b + "attn_k.bias", DType.F32, new long[]{KD}, g.matrix(b + "attn_k.bias", 0.02));
                w.addTensorRows(b + "attn_v.bias", DType.F32, new long[]{KD}, g.matrix(b + "attn_v.bias", 0.02));
            }
            if (arch.equals("qwen3moe")) {
                w.addTensorRows(b + "attn_q_norm.weight", DType.F32, new long[]{s.headDim()}, g.norm(b + "attn_q_norm"));
                w.addTensorRows(b + "attn_k_norm.weight", DType.F32, new long[]{s.headDim()}, g.norm(b + "attn_k_norm"));
            }
            if (arch.equals("olmoe")) {
                w.addTensorRows(b + "attn_q_norm.weight", DType.F32, new long[]{QD}, g.norm(b + "attn_q_norm"));
                w.addTensorRows(b + "attn_k_norm.weight", DType.F32, new long[]{KD}, g.norm(b + "attn_k_norm"));
            }
            w.addTensorRows(b + "ffn_norm.weight", DType.F32, new long[]{H}, g.norm(b + "ffn_norm"));
            // router logits ~ N(0, 1) for a unit-RMS input: spread enough that top-k is not a tie, not so wide it is one-hot
            w.addTensorRows(b + "ffn_gate_inp.weight", DType.F32, new long[]{H, E}, g.matrix(b + "ffn_gate_inp", rH));
            w.addTensorRows(b + "ffn_gate_exps.weight", dtype, new long[]{H, F, E}, g.matrix(b + "ffn_gate_exps", rH));
            w.addTensorRows(b + "ffn_up_exps.weight", dtype, new long[]{H, F, E}, g.matrix(b + "ffn_up_exps", rH));
            w.addTensorRows(b + "ffn_down_exps.weight", dtype, new long[]{F, H, E}, g.matrix(b + "ffn_down_exps", 1 / Math.sqrt(F)));
            if (s.sharedFfn() > 0) {
                long SF = s.sharedFfn();
                w.addTensorRows(b + "ffn_gate_inp_shexp.weight", DType.F32, new long[]{H}, g.matrix(b + "ffn_gate_inp_shexp", rH));
                w.addTensorRows(b + "ffn_gate_shexp.weight", dtype, new long[]{H, SF}, g.matrix(b + "ffn_gate_shexp", rH));
                w.addTensorRows(b + "ffn_up_shexp.weight", dtype, new long[]{H, SF}, g.matrix(b + "ffn_up_shexp", rH));
                w.addTensorRows(b + "ffn_down_shexp.weight", dtype, new long[]{SF, H}, g.matrix(b + "ffn_down_shexp", 1 / Math.sqrt(SF)));
            }
        }
        w.write(out);
    }

    private static void writePangu(Shape s, DType dtype, long seed, Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new JmoeException(dir.toString(), "cannot create directory: " + e.getMessage());
        }
        long H = s.hidden(), QD = (long) s.heads() * s.headDim(), KD = (long) s.kvHeads() * s.headDim(), F = s.expertFfn(), E = s.experts(), SF = s.sharedFfn();
        double rH = 1 / Math.sqrt(H);
        Gen g = new Gen(seed);
        SafetensorsWriter w = new SafetensorsWriter(Map.of("format", "pt"));
        w.addRows("model.embed_tokens.weight", dtype, new long[]{s.vocab(), H}, g.matrix("embed", 1.0));
        w.addRows("lm_head.weight", dtype, new long[]{s.vocab(), H}, g.matrix("lm_head", rH));
        w.addRows("model.norm.weight", DType.F32, new long[]{H}, g.norm("norm"));
        for (int l = 0; l < s.layers(); l++) {
            String b = "model.layers." + l + ".";
            w.addRows(b + "input_layernorm.weight", DType.F32, new long[]{H}, g.norm(b + "in"));
            w.addRows(b + "post_attention_layernorm.weight", DType.F32, new long[]{H}, g.norm(b + "post"));
            for (String p : new String[]{"q", "k", "v", "o"}) {
                long rows = p.equals("q") ? QD : p.equals("o") ? H : KD, cols = p.equals("o") ? QD : H;
                w.addRows(b + "self_attn." + p + "_proj.weight", dtype, new long[]{rows, cols}, g.matrix(b + p, 1 / Math.sqrt(cols)));
                w.addRows(b + "self_attn." + p + "_proj.bias", DType.F32, new long[]{rows}, g.matrix(b + p + ".bias", 0.02));
            }
            w.addRows(b + "mlp.gate.weight", DType.F32, new long[]{E, H}, g.matrix(b + "gate", rH));
            w.addRows(b + "mlp.router_scale", DType.F32, new long[]{1, E}, g.norm(b + "router_scale"));
            for (int e = 0; e < E; e++) {
                String x = b + "mlp.experts." + e + ".";
                w.addRows(x + "gate_proj.weight", dtype, new long[]{F, H}, g.matrix(x + "g", rH));
                w.addRows(x + "up_proj.weight", dtype, new long[]{F, H}, g.matrix(x + "u", rH));
                w.addRows(x + "down_proj.weight", dtype, new long[]{H, F}, g.matrix(x + "d", 1 / Math.sqrt(F)));
            }
            String x = b + "mlp.shared_expert.";
            w.addRows(x + "gate_proj.weight", dtype, new long[]{SF, H}, g.matrix(x + "g", rH));
            w.addRows(x + "up_proj.weight", dtype, new long[]{SF, H}, g.matrix(x + "u", rH));
            w.addRows(x + "down_proj.weight", dtype, new long[]{H, SF}, g.matrix(x + "d", 1 / Math.sqrt(SF)));
        }
        String config = """
                {
                  "architectures": [
                    "PanguProMoEForCausalLM"
                  ],
                  "attention_dropout": 0.0,
                  "auto_map": {
                    "AutoConfig": "configuration_pangu_moe.PanguProMoEConfig",
                    "AutoModel": "modeling_pangu_moe.PanguProMoEModel",
                    "AutoModelForCausalLM": "modeling_pangu_moe.PanguProMoEForCausalLM"
                  },
                  "bos_token_id": 1,
                  "eos_token_id": 2,
                  "hidden_act": "silu",
                  "hidden_size": %d,
                  "initializer_range": 0.02,
                  "max_position_embeddings": %d,
                  "model_type": "PanguProMoE",
                  "moe_intermediate_size": %d,
                  "num_attention_heads": %d,
                  "num_experts": %d,
                  "num_experts_per_tok": %d,
                  "num_hidden_layers": %d,
                  "num_key_value_heads": %d,
                  "output_router_logits": false,
                  "rms_norm_eps": 1e-05,
                  "rope_theta": 16000000.0,
                  "router_aux_loss_coef": 0.001,
                  "shared_expert_intermediate_size": %d,
                  "tie_word_embeddings": false,
                  "torch_dtype": "%s",
                  "use_cache": true,
                  "vocab_size": %d
                }
                """.formatted(H, s.ctx(), F, s.heads(), E, s.used(), s.layers(), s.kvHeads(), SF,
                dtype == DType.F32 ? "float32" : dtype == DType.F16 ? "float16" : "bfloat16", s.vocab());
        w.write(dir.resolve("model.safetensors"));
        AtomicFiles.write(dir.resolve("config.json"), tmp -> Files.writeString(tmp, config));
    }

    /** llama.cpp's {@code general.file_type} (llama_ftype) for weights of {@code t}. */
    static long fileType(DType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q2_K -> 10;
            case Q3_K -> 12;
            case Q4_K -> 15;
            case Q5_K -> 17;
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> 0;
        };
    }

    /** Seeded generators of tensor data, one independent stream per tensor name; rows are produced in order. */
    private static final class Gen {
        final long seed;

        Gen(long seed) { this.seed = seed; }

        SplittableRandom rng(String name) {
            long h = 1125899906842597L;
            for (int i = 0; i < name.length(); i++) h = 31 * h + name.charAt(i);
            return new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ h * 0xC2B2AE3D27D4EB4FL);
        }

        /** Rows of uniform values with standard deviation {@code std}. */
        GgufWriter.RowSource matrix(String name, double std) {
            SplittableRandom[] r = {null};
            double a = std * Math.sqrt(3);
            return (row, dst) -> {
                if (row == 0) r[0] = rng(name);
                for (int k = 0; k < dst.length; k++) dst[k] = (float) ((r[0].nextDouble() * 2 - 1) * a);
            };
        }

        /** Values 1 +- 0.05 (RMSNorm weights, router scales). */
        GgufWriter.RowSource norm(String name) {
            SplittableRandom[] r = {null};
            return (row, dst) -> {
                if (row == 0) r[0] = rng(name);
                for (int k = 0; k < dst.length; k++) dst[k] = (float) (1 + 0.05 * (r[0].nextDouble() * 2 - 1));
            };
        }
    }
}
