package org.jmoe.format;

import org.jmoe.JmoeException;
import org.jmoe.Reference;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;
import org.jmoe.tensor.quant.BlockFormats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GgufWriterTest {
    @TempDir
    Path dir;

    static float[] randomFloats(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * 0.5);
        return v;
    }

    static MemorySegment f32(float[] v) {
        MemorySegment s = MemorySegment.ofArray(new byte[4 * v.length]);
        for (int i = 0; i < v.length; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, v[i]);
        return s;
    }

    @ParameterizedTest
    @ValueSource(ints = {32, 64})
    void everyMetadataTypeAndSeveralDtypesRoundTrip(int alignment) throws IOException {
        Path p = dir.resolve("all-" + alignment + ".gguf");
        GgufWriter w = new GgufWriter();
        w.putU32("general.alignment", alignment);
        w.put("t.u8", GgufType.UINT8, 255L).put("t.i8", GgufType.INT8, -128L);
        w.put("t.u16", GgufType.UINT16, 65535L).put("t.i16", GgufType.INT16, -32768L);
        w.put("t.u32", GgufType.UINT32, 0xffffffffL).put("t.i32", GgufType.INT32, (long) Integer.MIN_VALUE);
        w.put("t.u64", GgufType.UINT64, -1L).put("t.i64", GgufType.INT64, Long.MIN_VALUE);
        w.put("t.f32", GgufType.FLOAT32, 1.5e-7f).put("t.f64", GgufType.FLOAT64, Math.PI);
        w.putBool("t.true", true).putBool("t.false", false);
        w.putString("t.str", "Grüße, 世界 \u0000 end").putString("t.empty", "");
        w.putArray("a.u8", GgufType.UINT8, new long[]{0, 1, 255});
        w.putArray("a.i8", GgufType.INT8, new byte[]{-128, 0, 127});
        w.putArray("a.u16", GgufType.UINT16, new int[]{0, 65535});
        w.putArray("a.i16", GgufType.INT16, new short[]{-32768, 32767});
        w.putArray("a.u32", GgufType.UINT32, new long[]{0, 0xffffffffL});
        w.putArray("a.i32", GgufType.INT32, new int[]{Integer.MIN_VALUE, -1, Integer.MAX_VALUE});
        w.putArray("a.u64", GgufType.UINT64, new long[]{-1L, 7});
        w.putArray("a.i64", GgufType.INT64, new long[]{Long.MIN_VALUE, Long.MAX_VALUE});
        w.putArray("a.f32", GgufType.FLOAT32, new float[]{-0.0f, Float.MAX_VALUE, Float.MIN_VALUE});
        w.putArray("a.f64", GgufType.FLOAT64, new double[]{Double.MIN_VALUE, -1e300});
        w.putArray("a.bool", GgufType.BOOL, new boolean[]{true, false, true});
        w.putArray("a.str", GgufType.STRING, new String[]{"Ġthe", "", "<|endoftext|>", "ü"});
        w.putArray("a.empty", GgufType.FLOAT32, new float[0]);
        w.put("a.implied", GgufType.ARRAY, new int[]{3, 4});
        w.putArray("a.nested", GgufType.ARRAY, new Object[]{
                new GgufWriter.Array(GgufType.UINT16, new long[]{1, 2, 3}),
                new String[]{"x", "yz"},
                new Object[]{new float[]{0.25f}, new GgufWriter.Array(GgufType.INT8, new long[]{-1})}});

        Map<String, float[]> data = new LinkedHashMap<>();
        data.put("v.f32", randomFloats(3, 1));          // 12 bytes: the next tensor needs padding
        data.put("m.f16", randomFloats(5 * 4, 2));
        data.put("m.bf16", randomFloats(7 * 2, 3));
        data.put("m.q8_0", randomFloats(64 * 3, 4));
        data.put("m.q4_0", randomFloats(32 * 5, 5));
        data.put("e.f32", randomFloats(8 * 2 * 3, 6));
        w.addTensor("v.f32", DType.F32, new long[]{3}, f32(data.get("v.f32")));
        w.addTensorRows("m.f16", DType.F16, new long[]{5, 4}, (r, dst) -> System.arraycopy(data.get("m.f16"), (int) r * 5, dst, 0, 5));
        w.addTensorRows("m.bf16", DType.BF16, new long[]{7, 2}, (r, dst) -> System.arraycopy(data.get("m.bf16"), (int) r * 7, dst, 0, 7));
        boolean quant = BlockFormats.canQuantize(DType.Q8_0) && BlockFormats.canQuantize(DType.Q4_0);
        if (quant) {
            w.addTensorRows("m.q8_0", DType.Q8_0, new long[]{64, 3}, (r, dst) -> System.arraycopy(data.get("m.q8_0"), (int) r * 64, dst, 0, 64));
            w.addTensorRows("m.q4_0", DType.Q4_0, new long[]{32, 5}, (r, dst) -> System.arraycopy(data.get("m.q4_0"), (int) r * 32, dst, 0, 32));
        }
        w.addTensor("e.f32", DType.F32, new long[]{8, 2, 3}, out -> out.write(f32(data.get("e.f32")).asByteBuffer()));
        w.write(p);

        try (GgufFile f = GgufFile.open(p)) {
            assertThat(f.version()).isEqualTo(3);
            assertThat(f.alignment()).isEqualTo(alignment);
            assertThat(f.dataStart() % alignment).isZero();
            Map<String, Object> m = f.metadata();
            assertThat(m.get("general.alignment")).isEqualTo((long) alignment);
            assertThat(m).containsEntry("t.u8", 255L).containsEntry("t.i8", -128L).containsEntry("t.u16", 65535L).containsEntry("t.i16", -32768L)
                    .containsEntry("t.u32", 0xffffffffL).containsEntry("t.i32", (long) Integer.MIN_VALUE).containsEntry("t.u64", -1L)
                    .containsEntry("t.i64", Long.MIN_VALUE).containsEntry("t.f32", 1.5e-7f).containsEntry("t.f64", Math.PI)
                    .containsEntry("t.true", true).containsEntry("t.false", false).containsEntry("t.str", "Grüße, 世界 \u0000 end").containsEntry("t.empty", "");
            for (String k : new String[]{"u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64"}) {
                assertThat(f.metadataTypes().get("t." + k).name().toLowerCase()).isEqualTo(typeName(k));
                assertThat(f.arrayElementType("a." + k).name().toLowerCase()).isEqualTo(typeName(k));
            }
            assertThat(f.metadataTypes().get("t.true")).isEqualTo(GgufType.BOOL);
            assertThat(f.metadataTypes().get("t.str")).isEqualTo(GgufType.STRING);
            assertThat((long[]) m.get("a.u8")).containsExactly(0, 1, 255);
            assertThat((long[]) m.get("a.i8")).containsExactly(-128, 0, 127);
            assertThat((long[]) m.get("a.u16")).containsExactly(0, 65535);
            assertThat((long[]) m.get("a.i16")).containsExactly(-32768, 32767);
            assertThat((long[]) m.get("a.u32")).containsExactly(0, 0xffffffffL);
            assertThat((long[]) m.get("a.i32")).containsExactly(Integer.MIN_VALUE, -1, Integer.MAX_VALUE);
            assertThat((long[]) m.get("a.u64")).containsExactly(-1L, 7);
            assertThat((long[]) m.get("a.i64")).containsExactly(Long.MIN_VALUE, Long.MAX_VALUE);
            assertThat((float[]) m.get("a.f32")).containsExactly(-0.0f, Float.MAX_VALUE, Float.MIN_VALUE);
            assertThat((double[]) m.get("a.f64")).containsExactly(Double.MIN_VALUE, -1e300);
            assertThat((boolean[]) m.get("a.bool")).containsExactly(true, false, true);
            assertThat((String[]) m.get("a.str")).containsExactly("Ġthe", "", "<|endoftext|>", "ü");
            assertThat((float[]) m.get("a.empty")).isEmpty();
            assertThat(f.arrayElementType("a.implied")).isEqualTo(GgufType.INT32);
            assertThat(f.arrayElementType("a.bool")).isEqualTo(GgufType.BOOL);
            assertThat(f.arrayElementType("a.str")).isEqualTo(GgufType.STRING);
            assertThat(f.arrayElementType("a.nested")).isEqualTo(GgufType.ARRAY);
            assertThat(f.arrayElementType("t.str")).isNull();
            Object[] nested = (Object[]) m.get("a.nested");
            assertThat((long[]) nested[0]).containsExactly(1, 2, 3);
            assertThat((String[]) nested[1]).containsExactly("x", "yz");
            Object[] inner = (Object[]) nested[2];
            assertThat((float[]) inner[0]).containsExactly(0.25f);
            assertThat((long[]) inner[1]).containsExactly(-1);

            assertThat(f.tensors().keySet()).hasSize(quant ? 6 : 4);
            for (Tensor t : f.tensors().values()) {
                assertThat(f.tensorOffset(t.name()) % alignment).as(t.name()).isZero();
                float[] want = data.get(t.name());
                float[] got = t.toFloats();
                assertThat(got).hasSize(want.length);
                double tol = switch (t.type()) {
                    case F32 -> 0;
                    case F16 -> 1e-3;
                    case BF16 -> 1e-2;
                    case Q8_0 -> 2e-2;
                    default -> 0.25;
                };
                for (int i = 0; i < want.length; i++) assertThat((double) got[i]).as(t.name() + "[" + i + "]").isCloseTo(want[i], org.assertj.core.data.Offset.offset(tol + 1e-9));
            }
            assertThat(f.require("m.f16").type()).isEqualTo(DType.F16);
            assertThat(f.require("m.bf16").type()).isEqualTo(DType.BF16);
            assertThat(f.require("e.f32").shape()).containsExactly(8, 2, 3);
            // F16 rows are the exact round-to-nearest-even halves
            assertThat(f.require("m.f16").data().get(ValueLayout.JAVA_SHORT_UNALIGNED, 0)).isEqualTo(Float.floatToFloat16(data.get("m.f16")[0]));
            // the file ends on the last tensor's aligned end
            Tensor last = f.require("e.f32");
            assertThat(f.fileSize()).isEqualTo(f.dataStart() + f.tensorOffset("e.f32") + (last.byteSize() + alignment - 1) / alignment * alignment);
        }
    }

    private static String typeName(String k) {
        return switch (k) {
            case "u8" -> "uint8";
            case "i8" -> "int8";
            case "u16" -> "uint16";
            case "i16" -> "int16";
            case "u32" -> "uint32";
            case "i32" -> "int32";
            case "u64" -> "uint64";
            case "i64" -> "int64";
            case "f32" -> "float32";
            default -> "float64";
        };
    }

    /** Copying a llama.cpp-written file's metadata and tensors reproduces it: same metadata, same tensor bytes, same file. */
    @ParameterizedTest
    @ValueSource(strings = {"qwen3moe.gguf", "qwen2moe.gguf", "olmoe.gguf", "llama_moe.gguf", "qwen3moe_q8_0.gguf", "olmoe_q4_0.gguf"})
    void rewritingAReferenceModelReproducesIt(String name) throws IOException {
        Path src = Reference.model(name);
        Path out = dir.resolve(name);
        try (GgufFile f = GgufFile.open(src)) {
            GgufWriter w = new GgufWriter().putAll(f);
            for (Tensor t : f.tensors().values()) w.addTensor(t);
            w.write(out);
            try (GgufFile g = GgufFile.open(out)) {
                assertThat(g.metadata().keySet()).containsExactlyElementsOf(f.metadata().keySet());
                for (String k : f.metadata().keySet()) {
                    assertThat(g.metadataTypes().get(k)).as(k).isEqualTo(f.metadataTypes().get(k));
                    assertThat(g.arrayElementType(k)).as(k).isEqualTo(f.arrayElementType(k));
                    assertThat(g.rawValue(k)).as(k).isEqualTo(f.rawValue(k));
                    assertThat(g.metadata().get(k)).as(k).usingRecursiveComparison().isEqualTo(f.metadata().get(k));
                }
                assertThat(g.tensors().keySet()).containsExactlyElementsOf(f.tensors().keySet());
                for (Tensor t : f.tensors().values()) {
                    Tensor u = g.require(t.name());
                    assertThat(u.type()).isEqualTo(t.type());
                    assertThat(u.shape()).containsExactly(t.shape());
                    assertThat(u.data().mismatch(t.data())).as(t.name()).isEqualTo(-1);
                }
            }
        }
        assertThat(Files.mismatch(src, out)).isEqualTo(-1);
    }

    /** Re-typing the copied token types as a typed array gives the same bytes as copying them. */
    @Test
    void typedArraysMatchLlamaCppEncoding() throws IOException {
        Path out = dir.resolve("typed.gguf");
        try (GgufFile f = GgufFile.open(Reference.model("olmoe.gguf"))) {
            GgufType et = f.arrayElementType("tokenizer.ggml.token_type");
            new GgufWriter().putArray("tokenizer.ggml.token_type", et, f.get("tokenizer.ggml.token_type"))
                    .putArray("tokenizer.ggml.tokens", GgufType.STRING, f.get("tokenizer.ggml.tokens")).write(out);
            try (GgufFile g = GgufFile.open(out)) {
                assertThat(g.rawValue("tokenizer.ggml.token_type")).isEqualTo(f.rawValue("tokenizer.ggml.token_type"));
                assertThat(g.rawValue("tokenizer.ggml.tokens")).isEqualTo(f.rawValue("tokenizer.ggml.tokens"));
            }
        }
    }

    @Test
    void largeSegmentsStreamInChunks() throws IOException {
        int n = 3 * GgufWriter.CHUNK / 4 + 5;           // 3 MiB + 20 bytes of floats: several chunks
        float[] v = randomFloats(n, 9);
        Path p = dir.resolve("big.gguf");
        new GgufWriter().addTensor("big", DType.F32, new long[]{n}, f32(v)).write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertThat(java.util.Arrays.mismatch(f.require("big").toFloats(), v)).isEqualTo(-1);
        }
    }

    @Test
    void failuresLeaveNoFileAndKeepAnExistingOne() throws IOException {
        Path out = dir.resolve("keep.gguf");
        Files.writeString(out, "old");
        assertThatThrownBy(() -> new GgufWriter().addTensor("x", DType.F32, new long[]{4}, s -> s.write(new byte[8], 0, 8)).write(out))
                .isInstanceOf(JmoeException.class).hasMessageContaining("keep.gguf").hasMessageContaining("tensor x wrote 8 bytes, expected 16");
        assertThatThrownBy(() -> new GgufWriter().addTensor("x", DType.F32, new long[]{4}, s -> s.write(new byte[20], 0, 20)).write(out))
                .isInstanceOf(JmoeException.class).hasMessageContaining("more bytes than its shape holds");
        assertThatThrownBy(() -> new GgufWriter().addTensorRows("x", DType.F32, new long[]{4, 2}, (r, dst) -> {
            if (r == 1) throw new IOException("disk on fire");
        }).write(out)).isInstanceOf(JmoeException.class).hasMessageContaining("disk on fire");
        assertThat(Files.readString(out)).isEqualTo("old");
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("keep.gguf");
        }
    }

    @Test
    void badInputIsRefusedBeforeWriting() {
        GgufWriter w = new GgufWriter();
        assertThatThrownBy(() -> w.putU32("general.alignment", 48)).hasMessageContaining("power of two");
        assertThatThrownBy(() -> w.put("k", GgufType.UINT8, 256L)).hasMessageContaining("not a UINT8");
        assertThatThrownBy(() -> w.put("k", GgufType.UINT32, -1L)).hasMessageContaining("not a UINT32");
        assertThatThrownBy(() -> w.put("k", GgufType.STRING, 3L)).hasMessageContaining("not a STRING");
        assertThatThrownBy(() -> w.putArray("k", GgufType.INT8, new long[]{200})).hasMessageContaining("k[0]");
        assertThatThrownBy(() -> w.putArray("k", GgufType.STRING, new float[1])).hasMessageContaining("cannot hold STRING");
        assertThatThrownBy(() -> w.addTensor("q", DType.Q8_0, new long[]{16}, s -> { })).hasMessageContaining("block size 32");
        assertThatThrownBy(() -> w.addTensor("x".repeat(64), DType.F32, new long[]{1}, s -> { })).hasMessageContaining("1 to 63 bytes");
        assertThatThrownBy(() -> w.addTensor("z", DType.F32, new long[]{4}, MemorySegment.ofArray(new byte[12]))).hasMessageContaining("12 bytes given");
        w.addTensor("t", DType.F32, new long[]{1}, MemorySegment.ofArray(new byte[4]));
        assertThatThrownBy(() -> w.addTensor("t", DType.F32, new long[]{1}, MemorySegment.ofArray(new byte[4]))).hasMessageContaining("duplicate tensor t");
    }
}
