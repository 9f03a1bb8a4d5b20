package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.format.GgufType;
import org.jmoe.format.GgufWriter;
import org.jmoe.format.SafetensorsWriter;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.quant.BlockFormat;
import org.jmoe.tensor.quant.BlockFormats;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
        return switch (preset) {
            case "tiny" -> new Shape(64, 2, 4, 2, 16, arch.equals("pangu-moe") ? 16 : 8, arch.equals("pangu-moe") ? 4 : 2, 64, shared ? 128 : 0, 512, 512);
            case "small" -> new Shape(256, 4, 8, 2, 32, 16, 4, 256, shared ? 512 : 0, 2048, 2048);
            case "bench-1b" -> new Shape(1024, 16, 16, 4, 64, 64, 8, 512, shared ? 1024 : 0, 32000, 4096);
            default -> throw new JmoeException("--preset", "unknown preset '" + preset + "' (one of " + String.join(", ", PRESETS) + ")");
        };
    }

    /** Writes a synthetic model; returns the path written (a file, or a directory for pangu-moe). */
    public static Path write(String arch, String preset, DType dtype, long seed, Path out) {
        if (!ARCHS.contains(arch)) throw new JmoeException("--arch", "unknown architecture '" + arch + "' (one of " + String.join(", ", ARCHS) + ")");
        Shape s = shape(arch, preset);
        if (arch.equals("pangu-moe")) {
            if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
                throw new JmoeException("--dtype", "Pangu Pro MoE is written as safetensors, which holds F32, F16 or BF16, not " + dtype);
            }
            writePangu(s, dtype, seed, out);
            return out;
        }
        if (dtype.isQuantized() && !BlockFormats.canQuantize(dtype)) throw new JmoeException("--dtype", "cannot write " + dtype + " yet");
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16 && BlockFormats.of(dtype) == null) {
            throw new JmoeException("--dtype", "unsupported weight dtype " + dtype);
        }
        if (dtype.isQuantized() && (s.hidden % dtype.blockSize() != 0 || s.expertFfn % dtype.blockSize() != 0)) {
            throw new JmoeException("--dtype", dtype + " needs rows that are a multiple of " + dtype.blockSize() + " values; preset " + preset + " has " + s.expertFfn);
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
        w.put("tokenizer.ggml.tokens", GgufType.ARRAY, v.tokens);
        w.put("tokenizer.ggml.token_type", GgufType.ARRAY, v.types);
        w.put("tokenizer.ggml.merges", GgufType.ARRAY, v.merges);
        w.putU32("tokenizer.ggml.bos_token_id", v.bos);
        w.putU32("tokenizer.ggml.eos_token_id", v.eos);
        w.putBool("tokenizer.ggml.add_bos_token", false);

        int H = s.hidden(), QD = s.heads() * s.headDim(), KD = s.kvHeads() * s.headDim(), F = s.expertFfn(), E = s.experts();
        Gen g = new Gen(seed, dtype);
        w.addTensor("token_embd.weight", dtype, new long[]{H, s.vocab()}, g.matrix("token_embd", H, s.vocab(), 1.0, dtype));
        w.addTensor("output_norm.weight", DType.F32, new long[]{H}, g.norm("output_norm", H));
        w.addTensor("output.weight", dtype, new long[]{H, s.vocab()}, g.matrix("output", H, s.vocab(), 1 / Math.sqrt(H), dtype));
        for (int l = 0; l < s.layers(); l++) {
            String b = "blk." + l + ".";
            w.addTensor(b + "attn_norm.weight", DType.F32, new long[]{H}, g.norm(b + "attn_norm", H));
            w.addTensor(b + "attn_q.weight", dtype, new long[]{H, QD}, g.matrix(b + "attn_q", H, QD, 1 / Math.sqrt(H), dtype));
            w.addTensor(b + "attn_k.weight", dtype, new long[]{H, KD}, g.matrix(b + "attn_k", H, KD, 1 / Math.sqrt(H), dtype));
            w.addTensor(b + "attn_v.weight", dtype, new long[]{H, KD}, g.matrix(b + "attn_v", H, KD, 1 / Math.sqrt(H), dtype));
            w.addTensor(b + "attn_output.weight", dtype, new long[]{QD, H}, g.matrix(b + "attn_output", QD, H, 1 / Math.sqrt(QD), dtype));
            if (arch.equals("qwen2moe")) {
                w.addTensor(b + "attn_q.bias", DType.F32, new long[]{QD}, g.vector(b + "attn_q.bias", QD, 0.02));
                w.addTensor(b + "attn_k.bias", DType.F32, new long[]{KD}, g.vector(b + "attn_k.bias", KD, 0.02));
                w.addTensor(b + "attn_v.bias", DType.F32, new long[]{KD}, g.vector(b + "attn_v.bias", KD, 0.02));
            }
            if (arch.equals("qwen3moe")) {
                w.addTensor(b + "attn_q_norm.weight", DType.F32, new long[]{s.headDim()}, g.norm(b + "attn_q_norm", s.headDim()));
                w.addTensor(b + "attn_k_norm.weight", DType.F32, new long[]{s.headDim()}, g.norm(b + "attn_k_norm", s.headDim()));
            }
            if (arch.equals("olmoe")) {
                w.addTensor(b + "attn_q_norm.weight", DType.F32, new long[]{QD}, g.norm(b + "attn_q_norm", QD));
                w.addTensor(b + "attn_k_norm.weight", DType.F32, new long[]{KD}, g.norm(b + "attn_k_norm", KD));
            }
            w.addTensor(b + "ffn_norm.weight", DType.F32, new long[]{H}, g.norm(b + "ffn_norm", H));
            w.addTensor(b + "ffn_gate_inp.weight", DType.F32, new long[]{H, E}, g.matrix(b + "ffn_gate_inp", H, E, 1 / Math.sqrt(H), DType.F32));
            w.addTensor(b + "ffn_gate_exps.weight", dtype, new long[]{H, F, E}, g.matrix(b + "ffn_gate_exps", H, F * E, 1 / Math.sqrt(H), dtype));
            w.addTensor(b + "ffn_up_exps.weight", dtype, new long[]{H, F, E}, g.matrix(b + "ffn_up_exps", H, F * E, 1 / Math.sqrt(H), dtype));
            w.addTensor(b + "ffn_down_exps.weight", dtype, new long[]{F, H, E}, g.matrix(b + "ffn_down_exps", F, H * E, 1 / Math.sqrt(F), dtype));
            if (s.sharedFfn() > 0) {
                int SF = s.sharedFfn();
                w.addTensor(b + "ffn_gate_inp_shexp.weight", DType.F32, new long[]{H}, g.vector(b + "ffn_gate_inp_shexp", H, 1 / Math.sqrt(H)));
                w.addTensor(b + "ffn_gate_shexp.weight", dtype, new long[]{H, SF}, g.matrix(b + "ffn_gate_shexp", H, SF, 1 / Math.sqrt(H), dtype));
                w.addTensor(b + "ffn_up_shexp.weight", dtype, new long[]{H, SF}, g.matrix(b + "ffn_up_shexp", H, SF, 1 / Math.sqrt(H), dtype));
                w.addTensor(b + "ffn_down_shexp.weight", dtype, new long[]{SF, H}, g.matrix(b + "ffn_down_shexp", SF, H, 1 / Math.sqrt(SF), dtype));
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
        int H = s.hidden(), QD = s.heads() * s.headDim(), KD = s.kvHeads() * s.headDim(), F = s.expertFfn(), E = s.experts(), SF = s.sharedFfn();
        Gen g = new Gen(seed, dtype);
        SafetensorsWriter w = new SafetensorsWriter(Map.of("format", "pt"));
        w.add("model.embed_tokens.weight", dtype, new long[]{s.vocab(), H}, g.matrix("embed", H, s.vocab(), 1.0, dtype));
        w.add("lm_head.weight", dtype, new long[]{s.vocab(), H}, g.matrix("lm_head", H, s.vocab(), 1 / Math.sqrt(H), dtype));
        w.add("model.norm.weight", DType.F32, new long[]{H}, g.norm("norm", H));
        for (int l = 0; l < s.layers(); l++) {
            String b = "model.layers." + l + ".";
            w.add(b + "input_layernorm.weight", DType.F32, new long[]{H}, g.norm(b + "in", H));
            w.add(b + "post_attention_layernorm.weight", DType.F32, new long[]{H}, g.norm(b + "post", H));
            for (String p : new String[]{"q", "k", "v", "o"}) {
                int rows = p.equals("q") ? QD : p.equals("o") ? H : KD, cols = p.equals("o") ? QD : H;
                w.add(b + "self_attn." + p + "_proj.weight", dtype, new long[]{rows, cols}, g.matrix(b + p, cols, rows, 1 / Math.sqrt(cols), dtype));
                w.add(b + "self_attn." + p + "_proj.bias", DType.F32, new long[]{rows}, g.vector(b + p + ".bias", rows, 0.02));
            }
            w.add(b + "mlp.gate.weight", DType.F32, new long[]{E, H}, g.matrix(b + "gate", H, E, 1 / Math.sqrt(H), DType.F32));
            w.add(b + "mlp.router_scale", DType.F32, new long[]{1, E}, g.norm(b + "router_scale", E));
            for (int e = 0; e < E; e++) {
                String x = b + "mlp.experts." + e + ".";
                w.add(x + "gate_proj.weight", dtype, new long[]{F, H}, g.matrix(x + "g", H, F, 1 / Math.sqrt(H), dtype));
                w.add(x + "up_proj.weight", dtype, new long[]{F, H}, g.matrix(x + "u", H, F, 1 / Math.sqrt(H), dtype));
                w.add(x + "down_proj.weight", dtype, new long[]{H, F}, g.matrix(x + "d", F, H, 1 / Math.sqrt(F), dtype));
            }
            String x = b + "mlp.shared_expert.";
            w.add(x + "gate_proj.weight", dtype, new long[]{SF, H}, g.matrix(x + "g", H, SF, 1 / Math.sqrt(H), dtype));
            w.add(x + "up_proj.weight", dtype, new long[]{SF, H}, g.matrix(x + "u", H, SF, 1 / Math.sqrt(H), dtype));
            w.add(x + "down_proj.weight", dtype, new long[]{H, SF}, g.matrix(x + "d", SF, H, 1 / Math.sqrt(SF), dtype));
        }
        String config = """
                {
                  "architectures": ["PanguProMoEForCausalLM"],
                  "model_type": "PanguProMoE",
                  "hidden_act": "silu",
                  "hidden_size": %d,
                  "num_hidden_layers": %d,
                  "num_attention_heads": %d,
                  "num_key_value_heads": %d,
                  "num_experts": %d,
                  "num_experts_per_tok": %d,
                  "moe_intermediate_size": %d,
                  "shared_expert_intermediate_size": %d,
                  "vocab_size": %d,
                  "max_position_embeddings": %d,
                  "rms_norm_eps": 1e-05,
                  "rope_theta": 16000000.0,
                  "router_aux_loss_coef": 0.001,
                  "tie_word_embeddings": false,
                  "bos_token_id": 1,
                  "eos_token_id": 2,
                  "torch_dtype": "%s"
                }
                """.formatted(H, s.layers(), s.heads(), s.kvHeads(), E, s.used(), F, SF, s.vocab(), s.ctx(),
                dtype == DType.F32 ? "float32" : dtype == DType.F16 ? "float16" : "bfloat16");
        w.write(dir.resolve("model.safetensors"));
        org.jmoe.format.AtomicFiles.write(dir.resolve("config.json"), tmp -> Files.writeString(tmp, config));
    }

    private static long fileType(DType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case Q4_K -> 15;
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> 0;
        };
    }

    /** Seeded generators of tensor data, one independent stream per tensor name. */
    private static final class Gen {
        final long seed;

        Gen(long seed, DType unused) { this.seed = seed; }

        SplittableRandom rng(String name) {
            return new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ name.hashCode() * 0xC2B2AE3D27D4EB4FL);
        }

        /** {@code rows} rows of {@code cols} uniform values with standard deviation {@code std}, encoded as {@code type}. */
        GgufWriter.DataSource matrix(String name, int cols, int rows, double std, DType type) {
            return out -> {
                SplittableRandom r = rng(name);
                float[] row = new float[cols];
                long rowBytes = type.bytesFor(cols);
                byte[] buf = new byte[(int) rowBytes];
                ByteBuffer bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
                MemorySegment seg = MemorySegment.ofArray(buf);
                BlockFormat bf = type.isQuantized() ? BlockFormats.of(type) : null;
                double a = std * Math.sqrt(3);
                for (int i = 0; i < rows; i++) {
                    for (int k = 0; k < cols; k++) row[k] = (float) ((r.nextDouble() * 2 - 1) * a);
                    encode(row, type, bb, seg, bf);
                    out.write(buf, 0, buf.length);
                }
            };
        }

        GgufWriter.DataSource norm(String name, int n) {
            return out -> {
                SplittableRandom r = rng(name);
                ByteBuffer bb = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < n; i++) bb.putFloat((float) (1 + 0.05 * (r.nextDouble() * 2 - 1)));
                out.write(bb.array(), 0, 4 * n);
            };
        }

        GgufWriter.DataSource vector(String name, int n, double std) {
            return out -> {
                SplittableRandom r = rng(name);
                ByteBuffer bb = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
                double a = std * Math.sqrt(3);
                for (int i = 0; i < n; i++) bb.putFloat((float) ((r.nextDouble() * 2 - 1) * a));
                out.write(bb.array(), 0, 4 * n);
            };
        }

        static void encode(float[] row, DType type, ByteBuffer bb, MemorySegment seg, BlockFormat bf) {
            bb.clear();
            switch (type) {
                case F32 -> { for (float v : row) bb.putFloat(v); }
                case F16 -> { for (float v : row) bb.putShort(Float.floatToFloat16(v)); }
                case BF16 -> { for (float v : row) bb.putShort(bf16(v)); }
                default -> bf.quantize(row, 0, row.length, seg, 0);
            }
        }

        /** Float to bfloat16, round to nearest even (NaN kept quiet). */
        static short bf16(float v) {
            int bits = Float.floatToRawIntBits(v);
            if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
            return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
        }
    }
}
