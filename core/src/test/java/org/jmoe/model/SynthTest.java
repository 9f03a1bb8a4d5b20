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
            if (!arch.equals("pangu-moe")) assertThat(m.tokenizer() == null || m.tokenizer().vocabSize() == V).isTrue();
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
