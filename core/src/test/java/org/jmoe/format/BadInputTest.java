package org.jmoe.format;

import org.jmoe.JmoeException;
import org.jmoe.Reference;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

/** Corrupt, truncated and inconsistent files fail with one clear JmoeException naming file and place. */
class BadInputTest {
    @TempDir
    Path dir;

    /** A valid little GGUF: header fields we can then corrupt at known offsets. */
    Path smallGguf() {
        Path p = dir.resolve("ok.gguf");
        new GgufWriter().putString("general.architecture", "llama").putU32("x.count", 3)
                .put("x.arr", GgufType.ARRAY, new String[]{"a", "b"})
                .addTensor("t.weight", DType.F32, new long[]{8, 2}, out -> out.write(new byte[64], 0, 64))
                .write(p);
        return p;
    }

    static byte[] le(long v, int n) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
        byte[] out = new byte[n];
        System.arraycopy(b.array(), 0, out, 0, n);
        return out;
    }

    Path patched(Path src, int offset, byte[] bytes) throws IOException {
        byte[] b = Files.readAllBytes(src);
        System.arraycopy(bytes, 0, b, offset, bytes.length);
        Path p = dir.resolve("bad-" + offset + "-" + bytes.length + ".gguf");
        Files.write(p, b);
        return p;
    }

    static String message(Runnable r) {
        Throwable t = catchThrowable(r::run);
        assertThat(t).isInstanceOf(JmoeException.class);
        assertThat(t.getMessage()).doesNotContain("\n");
        return t.getMessage();
    }

    @Test
    void everyTruncationOfAGgufIsAClearError() throws IOException {
        byte[] all = Files.readAllBytes(Reference.model("olmoe.gguf"));
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 60; i++) {
            int cut = i < 20 ? i * 7 : r.nextInt(all.length);
            Path p = dir.resolve("cut.gguf");
            Files.write(p, java.util.Arrays.copyOf(all, cut));
            String m = message(() -> GgufFile.open(p).close());
            assertThat(m).startsWith(p.toString()).containsAnyOf("truncated", "bad magic", "out of bounds", "absurd");
        }
    }

    @Test
    void corruptGgufHeaders() throws IOException {
        Path ok = smallGguf();
        GgufFile.open(ok).close();
        assertThat(message(() -> GgufFile.open(dir.resolve("none.gguf")))).contains("no such file");
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, 0, "GGML".getBytes(StandardCharsets.US_ASCII))))).startsWith(dir.toString()).contains("bad magic", "byte offset 0");
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, 4, le(7, 4))))).contains("unsupported GGUF version 7");
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, 8, le(1L << 40, 8))))).contains("absurd tensor count");
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, 16, le(-1, 8))))).contains("absurd metadata count");
        // first key's length (byte 24) made huge
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, 24, le(1L << 50, 8))))).contains("absurd string length", "byte offset 24");
        // first value's type id (after the 8-byte length and 20-byte key "general.architecture") made unknown
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, 52, le(99, 4))))).contains("unknown metadata value type 99", "general.architecture");
    }

    Path patchedUnchecked(Path src, int off, byte[] b) {
        try {
            return patched(src, off, b);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void tensorDescriptorsAreChecked() throws IOException {
        Path ok = smallGguf();
        byte[] b = Files.readAllBytes(ok);
        int at = indexOf(b, "t.weight".getBytes(StandardCharsets.US_ASCII)) + 8; // n_dims follows the name
        // dims 8 x 2 -> 8 x 2^40: data far beyond the file
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, at + 4 + 8, le(1L << 40, 8))))).contains("t.weight");
        // dtype id 99
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, at + 4 + 16, le(99, 4))))).contains("unknown tensor dtype id 99", "t.weight");
        // data offset past the end
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, at + 4 + 20, le(4096, 8))))).contains("tensor data out of bounds", "t.weight");
        // 5 dimensions
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, at, le(5, 4))))).contains("5 dimensions");
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new IllegalStateException("not found");
    }

    @Test
    void modelLevelErrors() throws IOException {
        // unknown architecture
        Path p = dir.resolve("arch.gguf");
        new GgufWriter().putString("general.architecture", "mamba9").write(p);
        assertThat(message(() -> ModelLoader.load(p))).contains("unsupported architecture 'mamba9'", "general.architecture");
        // missing tensor: the reference model without one of its tensors
        Path q = dir.resolve("missing.gguf");
        try (GgufFile f = GgufFile.open(Reference.model("olmoe.gguf"))) {
            GgufWriter w = new GgufWriter().putAll(f);
            f.tensors().values().stream().filter(t -> !t.name().equals("blk.1.ffn_up_exps.weight"))
                    .forEach(t -> w.addTensor(t.name(), t.type(), t.shape(), s -> s.write(t.data().asByteBuffer())));
            w.write(q);
        }
        assertThat(message(() -> ModelLoader.load(q))).contains("missing tensor", "blk.1.ffn_up_exps.weight");
        // shape mismatch: attn_q declared with the wrong row count
        Path s2 = dir.resolve("shape.gguf");
        try (GgufFile f = GgufFile.open(Reference.model("olmoe.gguf"))) {
            GgufWriter w = new GgufWriter().putAll(f);
            for (var t : f.tensors().values()) {
                if (t.name().equals("blk.0.attn_q.weight")) w.addTensor(t.name(), t.type(), new long[]{64, 32}, s -> s.write(t.data().asSlice(0, 64 * 32 * 4).asByteBuffer()));
                else w.addTensor(t.name(), t.type(), t.shape(), s -> s.write(t.data().asByteBuffer()));
            }
            w.write(s2);
        }
        assertThat(message(() -> ModelLoader.load(s2))).contains("shape mismatch", "blk.0.attn_q.weight");
    }

    @Test
    void safetensorsAndCheckpointErrors() throws IOException {
        Path ck = dir.resolve("ck");
        Files.createDirectories(ck);
        Path st = ck.resolve("model.safetensors");
        // absurd header size
        Files.write(st, le(1L << 40, 8));
        assertThat(message(() -> SafetensorsFile.open(st))).contains("absurd header size");
        // malformed JSON header
        byte[] json = "{\"a\": [1,".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).put(json);
        Files.write(st, b.array());
        assertThat(message(() -> SafetensorsFile.open(st))).contains("malformed header JSON");
        // data out of bounds / size mismatch / unknown dtype
        for (String[] c : new String[][]{
                {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "out of bounds"},
                {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,0]}}", "does not match shape"},
                {"{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", "unsupported dtype 'F8_E4M3'"}}) {
            byte[] h = c[0].getBytes(StandardCharsets.UTF_8);
            Files.write(st, ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).array());
            assertThat(message(() -> SafetensorsFile.open(st))).contains(c[1], "tensor w");
        }
        // malformed config.json
        Files.writeString(ck.resolve("config.json"), "{\"architectures\": [\"PanguProMoEForCausalLM\"], \"hidden_size\": }");
        assertThat(message(() -> ModelLoader.load(ck))).contains("config.json", "malformed JSON", "line 1");
        // missing field
        Files.writeString(ck.resolve("config.json"), "{\"architectures\": [\"PanguProMoEForCausalLM\"]}");
        Files.write(st, ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN).putLong(2).put("{}".getBytes()).array());
        assertThat(message(() -> ModelLoader.load(ck))).contains("missing field", "hidden_size");
        // index pointing to a missing shard
        Files.delete(st);
        Files.writeString(ck.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"w\": \"model-00001-of-00002.safetensors\"}}");
        assertThat(message(() -> ModelLoader.load(ck))).contains("model-00001-of-00002.safetensors", "no such file");
    }

    /** Every truncation of a safetensors file, and of a GGUF or checkpoint loaded as a model, is a one-line error naming the file. */
    @Test
    void everyTruncationThroughEveryReader() throws IOException {
        SplittableRandom r = new SplittableRandom(11);
        Path ref = Reference.model("pangu_tiny16").resolve("model.safetensors");
        byte[] st = Files.readAllBytes(ref);
        Path ck = dir.resolve("ckcut");
        Files.createDirectories(ck);
        Files.copy(Reference.model("pangu_tiny16").resolve("config.json"), ck.resolve("config.json"));
        Path cut = ck.resolve("model.safetensors");
        for (int i = 0; i < 40; i++) {
            int n = i < 10 ? i : r.nextInt(st.length);
            Files.write(cut, java.util.Arrays.copyOf(st, n));
            assertThat(message(() -> SafetensorsFile.open(cut).close())).startsWith(cut.toString())
                    .containsAnyOf("truncated", "absurd header size", "malformed header JSON", "out of bounds");
            assertThat(message(() -> ModelLoader.load(ck).close())).startsWith(cut.toString());
        }
        byte[] gg = Files.readAllBytes(Reference.model("qwen2moe.gguf"));
        Path g = dir.resolve("cut-model.gguf");
        for (int i = 0; i < 30; i++) {
            Files.write(g, java.util.Arrays.copyOf(gg, r.nextInt(gg.length)));
            assertThat(message(() -> ModelLoader.load(g).close())).startsWith(g.toString());
        }
    }

    /** Random byte corruption of a header never escapes as another exception type. */
    @Test
    void corruptedHeaderBytesAreAlwaysJmoeExceptions() throws IOException {
        byte[] all = Files.readAllBytes(Reference.model("olmoe.gguf"));
        int headerEnd;
        try (GgufFile f = GgufFile.open(Reference.model("olmoe.gguf"))) {
            headerEnd = (int) f.dataStart();
        }
        SplittableRandom r = new SplittableRandom(5);
        Path p = dir.resolve("flip.gguf");
        for (int i = 0; i < 200; i++) {
            byte[] b = all.clone();
            for (int k = 0; k < 4; k++) b[r.nextInt(headerEnd)] = (byte) r.nextInt(256);
            Files.write(p, b);
            Throwable t = catchThrowable(() -> ModelLoader.load(p).close());
            if (t != null) {
                assertThat(t).isInstanceOf(JmoeException.class);
                assertThat(t.getMessage()).startsWith(p.toString()).doesNotContain("\n").hasSizeLessThan(1000);
            }
        }
    }

    @Test
    void absurdArrayLengthAndNesting() throws IOException {
        Path ok = smallGguf();
        byte[] b = Files.readAllBytes(ok);
        // x.arr: key (8 + 5 bytes), type id (4), element type (4), then the element count
        int at = indexOf(b, "x.arr".getBytes(StandardCharsets.US_ASCII)) + 5 + 4 + 4;
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, at, le(1L << 60, 8))))).startsWith(dir.toString())
                .contains("absurd array length " + (1L << 60), "key x.arr", "byte offset " + at);
        // element type unknown
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, at - 4, le(77, 4))))).contains("unknown array element type 77", "key x.arr");
        // a string element whose length runs past the end of the file
        assertThat(message(() -> GgufFile.open(patchedUnchecked(ok, at + 8, le(1L << 33, 8))))).contains("absurd string length", "x.arr[0]", "byte offset " + (at + 8));
        // arrays of arrays nested deeper than anything real
        Path deep = dir.resolve("deep.gguf");
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        o.write(le(GgufFile.MAGIC, 4));
        o.write(le(3, 4));
        o.write(le(0, 8));
        o.write(le(1, 8));
        o.write(le(1, 8));
        o.write('k');
        o.write(le(GgufType.ARRAY.id(), 4));
        for (int d = 0; d < 6; d++) {
            o.write(le(GgufType.ARRAY.id(), 4));
            o.write(le(1, 8));
        }
        o.write(new byte[64]);
        Files.write(deep, o.toByteArray());
        assertThat(message(() -> GgufFile.open(deep))).startsWith(deep.toString()).contains("nested too deeply", "key k");
    }

    @Test
    void badAlignmentAndDuplicates() throws IOException {
        Path p = dir.resolve("align.gguf");
        Path ok = dir.resolve("a-ok.gguf");
        new GgufWriter().putU32("general.alignment", 64).addTensor("t", DType.F32, new long[]{4}, MemorySegmentsOf.zeros(16)).write(ok);
        byte[] b = Files.readAllBytes(ok);
        int at = indexOf(b, "general.alignment".getBytes(StandardCharsets.US_ASCII)) + 17 + 4;
        Files.write(p, b);
        assertThat(message(() -> GgufFile.open(patchedUnchecked(p, at, le(48, 4))))).startsWith(dir.toString()).contains("general.alignment must be a power of two, got 48");
        // tensor data offset not a multiple of the alignment
        int off = indexOf(b, new byte[]{'t', 1, 0, 0, 0}) + 1 + 4 + 8 + 4;
        assertThat(message(() -> GgufFile.open(patchedUnchecked(p, off, le(32, 8))))).contains("not aligned to 64", "tensor t");
    }

    /** A checkpoint whose tensors do not fit its config names the tensor. */
    @Test
    void checkpointModelErrors() throws IOException {
        Path ck = dir.resolve("pangu");
        org.jmoe.model.Synth.write("pangu-moe", "tiny", DType.F32, 1, ck);
        Path st = ck.resolve("model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter(java.util.Map.of());
        SafetensorsWriter v = new SafetensorsWriter(java.util.Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(st)) {
            for (var t : f.tensors().values()) {
                if (!t.name().equals("model.layers.1.mlp.experts.3.up_proj.weight")) w.add(t.name(), t);
                if (t.name().equals("model.layers.0.self_attn.k_proj.weight")) v.add(t.name(), DType.F32, new long[]{16, 64}, t.data().asSlice(0, 16 * 64 * 4));
                else v.add(t.name(), t);
            }
            w.write(dir.resolve("missing.safetensors"));
            v.write(dir.resolve("shape.safetensors"));
        }
        Files.move(dir.resolve("missing.safetensors"), st, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertThat(message(() -> ModelLoader.load(ck))).startsWith(ck.toString()).contains("missing tensor", "model.layers.1.mlp.experts.3.up_proj.weight");
        Files.move(dir.resolve("shape.safetensors"), st, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertThat(message(() -> ModelLoader.load(ck))).startsWith(ck.toString()).contains("shape mismatch", "model.layers.0.self_attn.k_proj.weight");
        // unknown architecture in config.json
        String cfg = Files.readString(ck.resolve("config.json"));
        Files.writeString(ck.resolve("config.json"), cfg.replace("\"PanguProMoEForCausalLM\"", "\"MambaForCausalLM\""));
        assertThat(message(() -> ModelLoader.load(ck))).contains("config.json", "MambaForCausalLM");
        // index whose weight_map lists a tensor its shard lacks
        Files.writeString(ck.resolve("config.json"), cfg);
        Files.move(st, ck.resolve("model-00001-of-00001.safetensors"));
        Files.writeString(ck.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"model.norm.weight\": \"model-00001-of-00001.safetensors\", \"ghost.weight\": \"model-00001-of-00001.safetensors\"}}");
        assertThat(message(() -> ModelLoader.load(ck))).contains("model-00001-of-00001.safetensors", "listed in the index is missing", "tensor ghost.weight");
        Files.writeString(ck.resolve("model.safetensors.index.json"), "{\"weight_map\": [1, 2]}");
        assertThat(message(() -> ModelLoader.load(ck))).contains("model.safetensors.index.json", "field weight_map");
        Files.writeString(ck.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
        assertThat(message(() -> ModelLoader.load(ck))).contains("model.safetensors.index.json", "plain file name");
    }

    /** Files larger than 2 GiB map and read correctly (sparse, so it costs no disk). */
    @Test
    void tensorBeyondTwoGibInASparseFile() throws IOException {
        Path p = dir.resolve("big.gguf");
        long offset = (1L << 31) + (1L << 20);                 // tensor data starts past 2 GiB
        ByteBuffer h = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(GgufFile.MAGIC).putInt(3).putLong(1).putLong(0);
        byte[] name = "far.weight".getBytes(StandardCharsets.US_ASCII);
        h.putLong(name.length).put(name).putInt(1).putLong(8).putInt(DType.F32.ggmlId()).putLong(offset);
        long dataStart = (h.position() + 31) / 32 * 32;
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.write(h.array(), 0, h.position());
            f.setLength(dataStart + offset + 32);
            f.seek(dataStart + offset);
            ByteBuffer v = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < 8; i++) v.putFloat(i * 1.5f);
            f.write(v.array());
        }
        try (GgufFile g = GgufFile.open(p)) {
            assertThat(g.fileSize()).isGreaterThan(1L << 31);
            float[] vals = g.require("far.weight").toFloats();
            for (int i = 0; i < 8; i++) assertThat(vals[i]).isEqualTo(i * 1.5f);
        }
    }

    @Test
    void writersLeaveNothingBehindOnFailure() {
        Path out = dir.resolve("fail.gguf");
        assertThatThrownBy(() -> new GgufWriter().addTensor("x", DType.F32, new long[]{4}, s -> s.write(new byte[8], 0, 8)).write(out))
                .hasMessageContaining("wrote 8 bytes, expected 16");
        assertThat(dir.toFile().list()).isEmpty();
    }
}

final class MemorySegmentsOf {
    private MemorySegmentsOf() {}

    static java.lang.foreign.MemorySegment zeros(int n) {
        return java.lang.foreign.MemorySegment.ofArray(new byte[n]);
    }
}
