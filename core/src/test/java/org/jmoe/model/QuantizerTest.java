package org.jmoe.model;

import org.jmoe.Reference;
import org.jmoe.format.GgufFile;
import org.jmoe.tensor.Tensor;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** jmoe's quantizer writes the same bytes as llama-quantize --pure did for the reference models. */
class QuantizerTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"llama_moe,Q8_0", "qwen3moe,Q8_0", "llama_moe,Q4_0", "qwen2moe,Q4_0", "olmoe,Q4_0"})
    void matchesLlamaQuantizeByteForByte(String name, String type) {
        Path out = dir.resolve(name + ".gguf");
        Quantizer.quantize(Reference.model(name + ".gguf"), out, org.jmoe.tensor.DType.valueOf(type));
        try (GgufFile mine = GgufFile.open(out); GgufFile theirs = GgufFile.open(Reference.model(name + "_" + type.toLowerCase() + ".gguf"))) {
            assertThat(mine.tensors().keySet()).containsExactlyInAnyOrderElementsOf(theirs.tensors().keySet());
            int differing = 0;
            long bytes = 0;
            for (Tensor t : theirs.tensors().values()) {
                Tensor m = mine.tensor(t.name());
                assertThat(m.type()).as(t.name()).isEqualTo(t.type());
                byte[] a = m.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                byte[] b = t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                for (int i = 0; i < a.length; i++) if (a[i] != b[i]) differing++;
                bytes += a.length;
            }
            // The same reference quantizer (same float operations, same rounding) gives the same bytes.
            assertThat(differing).as("bytes differing of %d", bytes).isZero();
        }
    }

    /** Rows of 64 values do not fit 256-value K-quant blocks: each such tensor falls back as llama-quantize does. */
    @ParameterizedTest
    @CsvSource({"Q4_K,Q5_0", "Q5_K,Q5_1", "Q6_K,Q8_0"})
    void kQuantsFallBackOnNarrowRows(String target, String expected) {
        Path out = dir.resolve("fb.gguf");
        var notes = Quantizer.quantize(Reference.model("qwen3moe.gguf"), out, org.jmoe.tensor.DType.valueOf(target));
        assertThat(notes).isNotEmpty().allMatch(n -> n.contains("using " + expected));
        try (GgufFile f = GgufFile.open(out)) {
            for (Tensor t : f.tensors().values()) {
                if (Quantizer.quantizes(t)) assertThat(t.type().name()).as(t.name()).isEqualTo(expected);
                else assertThat(t.type()).isEqualTo(org.jmoe.tensor.DType.F32);
            }
        }
        try (Model m = ModelLoader.load(out)) {
            float[] logits = new float[3 * m.config().vocab];
            new Forward(m, 8).eval(new int[]{1, 2, 3}, logits, true);
            for (float v : logits) assertThat(Float.isFinite(v)).isTrue();
        }
    }
}
