package org.jmoe.model;

import org.jmoe.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class SynthTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"qwen3moe,F32", "mixtral,F32", "qwen2moe,F32", "olmoe,F32", "granitemoe,F32", "pangu-moe,F32",
            "qwen3moe,F16", "qwen3moe,BF16", "qwen3moe,Q8_0", "mixtral,Q4_0", "pangu-moe,BF16"})
    void everyArchitectureSynthesisesLoadsAndRuns(String arch, String dtype) throws Exception {
        Path out = dir.resolve(arch + "-" + dtype + (arch.equals("pangu-moe") ? "" : ".gguf"));
        Synth.write(arch, "tiny", DType.valueOf(dtype), 7, out);
        try (Model m = ModelLoader.load(out)) {
            Synth.Shape s = Synth.shape(arch, "tiny");
            assertThat(m.config().experts).isEqualTo(s.experts());
            assertThat(m.tensors().values().stream().mapToLong(t -> t.elementCount()).sum()).isEqualTo(s.params(arch));
            int[] tokens = {1, 20, 300, 45, 7, 260};
            int V = m.config().vocab;
            float[] logits = new float[tokens.length * V];
            new Forward(m, 64).eval(tokens, logits, true);
            double sum = 0, sq = 0;
            for (float v : logits) {
                assertThat(Float.isFinite(v)).isTrue();
                sum += v;
                sq += v * v;
            }
            double std = Math.sqrt(sq / logits.length - Math.pow(sum / logits.length, 2));
            // fan-in scaled weights keep logits O(1): far from vanishing and far from exploding
            assertThat(std).isBetween(0.05, 100.0);
            if (!arch.equals("pangu-moe")) {
                // the byte-level vocabulary makes text usable: merges apply and every string round-trips
                String text = "the expert model, once upon a time: 42 ü!";
                int[] ids = m.tokenizer().encode(text, false);
                assertThat(ids.length).isLessThan(text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
                assertThat(m.tokenizer().decode(ids)).isEqualTo(text);
                assertThat(m.tokenizer().vocabSize()).isEqualTo(V);
                assertThat(m.tokenizer().isEog(m.tokenizer().eosId())).isTrue();
                assertThat(m.tokenizer().token(m.tokenizer().eosId())).isEqualTo("<|endoftext|>");
            }
        }
    }

    @Test
    void sameSeedSameBytesOtherSeedOtherBytes() throws Exception {
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf"), c = dir.resolve("c.gguf");
        Synth.write("qwen3moe", "tiny", DType.Q8_0, 1, a);
        Synth.write("qwen3moe", "tiny", DType.Q8_0, 1, b);
        Synth.write("qwen3moe", "tiny", DType.Q8_0, 2, c);
        assertThat(Files.mismatch(a, b)).isEqualTo(-1);
        assertThat(Files.mismatch(a, c)).isNotEqualTo(-1);
        assertThat(Files.size(a)).isEqualTo(Files.size(c));
        Path p = dir.resolve("p1"), q = dir.resolve("p2"), r = dir.resolve("p3");
        Synth.write("pangu-moe", "tiny", DType.BF16, 5, p);
        Synth.write("pangu-moe", "tiny", DType.BF16, 5, q);
        Synth.write("pangu-moe", "tiny", DType.BF16, 6, r);
        assertThat(Files.mismatch(p.resolve("model.safetensors"), q.resolve("model.safetensors"))).isEqualTo(-1);
        assertThat(Files.mismatch(p.resolve("model.safetensors"), r.resolve("model.safetensors"))).isNotEqualTo(-1);
        assertThat(Files.readString(p.resolve("config.json"))).isEqualTo(Files.readString(r.resolve("config.json")));
    }

    /** The checkpoint config carries the same keys as the reference Pangu checkpoint's. */
    @Test
    void panguConfigHasTheReferenceKeys() throws Exception {
        Path p = dir.resolve("pangu");
        Synth.write("pangu-moe", "tiny", DType.F32, 1, p);
        var om = new com.fasterxml.jackson.databind.ObjectMapper();
        var mine = om.readTree(p.resolve("config.json").toFile());
        var ref = om.readTree(org.jmoe.Reference.model("pangu_tiny64").resolve("config.json").toFile());
        java.util.List<String> a = new java.util.ArrayList<>(), b = new java.util.ArrayList<>();
        mine.fieldNames().forEachRemaining(a::add);
        ref.fieldNames().forEachRemaining(b::add);
        assertThat(a).containsExactlyInAnyOrderElementsOf(b);
        assertThat(mine.get("architectures").get(0).asText()).isEqualTo("PanguProMoEForCausalLM");
    }

    /** Metadata keys llama.cpp reads for each architecture are present under the architecture's prefix. */
    @ParameterizedTest
    @CsvSource({"qwen3moe,qwen3moe", "mixtral,llama", "qwen2moe,qwen2moe", "olmoe,olmoe", "granitemoe,granitemoe"})
    void llamaCppKeysAndTensorNames(String arch, String prefix) throws Exception {
        Path out = dir.resolve(arch + ".gguf");
        Synth.write(arch, "tiny", DType.F32, 3, out);
        try (org.jmoe.format.GgufFile f = org.jmoe.format.GgufFile.open(out)) {
            assertThat(f.getString("general.architecture", null)).isEqualTo(prefix);
            for (String k : new String[]{"context_length", "embedding_length", "block_count", "expert_count", "expert_used_count",
                    "expert_feed_forward_length", "attention.head_count", "attention.head_count_kv", "attention.key_length",
                    "attention.layer_norm_rms_epsilon", "rope.freq_base"}) {
                assertThat(f.metadata()).containsKey(prefix + "." + k);
            }
            assertThat(f.arrayElementType("tokenizer.ggml.token_type")).isEqualTo(org.jmoe.format.GgufType.INT32);
            assertThat(f.getString("tokenizer.ggml.model", null)).isEqualTo("gpt2");
            assertThat(f.tensor("blk.1.ffn_gate_inp.weight").type()).isEqualTo(DType.F32);
            assertThat(f.tensor("blk.1.ffn_down_exps.weight").shape()).containsExactly(64, 64, 8);
            if (arch.equals("granitemoe")) {
                for (String k : new String[]{"embedding_scale", "residual_scale", "attention.scale", "logit_scale"}) assertThat(f.metadata()).containsKey(prefix + "." + k);
            }
            if (arch.equals("qwen2moe")) {
                assertThat(f.tensor("blk.0.ffn_gate_inp_shexp.weight").shape()).containsExactly(64);
                assertThat(f.metadata()).containsKey("qwen2moe.expert_shared_feed_forward_length");
                assertThat(f.tensor("blk.0.attn_q.bias")).isNotNull();
            }
        }
    }

    @Test
    void smallPresetShape() {
        Synth.Shape s = Synth.shape("qwen3moe", "small");
        assertThat(s.hidden()).isEqualTo(256);
        assertThat(s.layers()).isEqualTo(4);
        assertThat(s.experts()).isEqualTo(16);
        assertThat(s.vocab()).isEqualTo(2048);
    }

    @Test
    void bench1bHasTheDocumentedShape() {
        Synth.Shape s = Synth.shape("qwen3moe", "bench-1b");
        assertThat(s.hidden()).isEqualTo(1024);
        assertThat(s.layers()).isEqualTo(16);
        assertThat(s.experts()).isEqualTo(64);
        assertThat(s.used()).isEqualTo(8);
        assertThat(s.expertFfn()).isEqualTo(512);
        assertThat(s.vocab()).isEqualTo(32000);
        assertThat(s.heads()).isEqualTo(16);
        assertThat(s.kvHeads()).isEqualTo(4);
        assertThat(s.headDim()).isEqualTo(64);
        assertThat(s.ctx()).isEqualTo(4096);
        // F32: about 6.9 GB, which is why every tensor is streamed row by row
        assertThat(4 * s.params("qwen3moe") / 1e9).isBetween(6.8, 7.0);
        // 16 x (attention 2.6M + experts 64 x 3 x 1024 x 512 + router 64K + norms) + 2 x 32000 x 1024 = 1.72B
        assertThat(s.params("qwen3moe")).isBetween(1_715_000_000L, 1_725_000_000L);
    }

    @Test
    void refusesAnUnsupportedDtypeWithoutWritingAnything() {
        Path out = dir.resolve("x.gguf");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Synth.write("qwen3moe", "tiny", DType.Q4_K, 1, out))
                .hasMessageContaining("multiple of 256");
        assertThat(dir.toFile().list()).isEmpty();
    }
}
