package org.jmoe.format;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.JmoeException;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SafetensorsWriterTest {
    @TempDir
    Path dir;

    static MemorySegment f32(int n, float base) {
        MemorySegment s = MemorySegment.ofArray(new byte[4 * n]);
        for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, base + i * 0.125f);
        return s;
    }

    @Test
    void oneFileRoundTripsWithHuggingFaceHeaderLayout() throws IOException {
        Path p = dir.resolve("model.safetensors");
        MemorySegment ints = MemorySegment.ofArray(new byte[3 * 8]);
        for (int i = 0; i < 3; i++) ints.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, -5L + i);
        new SafetensorsWriter(Map.of("format", "pt", "note", "ü"))
                .add("a.weight", DType.F32, new long[]{2, 3}, f32(6, 1))
                .addRows("b.weight", DType.F16, new long[]{4, 2}, (r, dst) -> { dst[0] = r; dst[1] = -r; })
                .addRows("c.weight", DType.BF16, new long[]{3}, (r, dst) -> { dst[0] = 1; dst[1] = 2; dst[2] = 3; })
                .add("d", DType.I64, new long[]{3}, ints)
                .add("e", DType.F32, new long[]{0}, MemorySegment.ofArray(new byte[0]))
                .write(p);
        byte[] b = Files.readAllBytes(p);
        long hlen = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertThat(hlen % 8).isZero();
        String header = new String(b, 8, (int) hlen, StandardCharsets.UTF_8);
        assertThat(header).startsWith("{").matches("(?s)\\{.*\\} *");
        JsonNode h = new ObjectMapper().readTree(header);
        assertThat(h.get("__metadata__").get("format").asText()).isEqualTo("pt");
        assertThat(h.get("b.weight").get("dtype").asText()).isEqualTo("F16");
        assertThat(h.get("b.weight").get("shape").toString()).isEqualTo("[4,2]");
        assertThat(b.length).isEqualTo(8 + hlen + 24 + 16 + 6 + 24);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertThat(f.metadata()).containsEntry("format", "pt").containsEntry("note", "ü");
            assertThat(f.tensors().keySet()).containsExactly("a.weight", "b.weight", "c.weight", "d", "e");
            Tensor a = f.tensors().get("a.weight");
            assertThat(a.shape()).containsExactly(3, 2);            // ggml order
            assertThat(a.data().mismatch(f32(6, 1))).isEqualTo(-1);
            assertThat(f.tensors().get("b.weight").toFloats()).containsExactly(0, 0, 1, -1, 2, -2, 3, -3);
            assertThat(f.tensors().get("c.weight").toFloats()).containsExactly(1, 2, 3);
            assertThat(f.tensors().get("d").data().mismatch(ints)).isEqualTo(-1);
            assertThat(f.tensors().get("e").elementCount()).isZero();
        }
    }

    @Test
    void threeShardCheckpointWithIndex() throws IOException {
        Path ck = dir.resolve("ck");
        Files.createDirectories(ck);
        Files.writeString(ck.resolve("config.json"), "{\"architectures\": [\"X\"]}");
        SafetensorsWriter w = new SafetensorsWriter(Map.of("format", "pt"));
        for (int i = 0; i < 6; i++) w.add("layer." + i + ".weight", DType.F32, new long[]{4, 8}, f32(32, i));   // 128 bytes each
        w.add("huge.weight", DType.F32, new long[]{100}, f32(100, 7));                                       // 400 bytes: a shard of its own
        List<Path> files = w.writeSharded(ck, 300);
        assertThat(files.stream().map(p -> p.getFileName().toString())).containsExactly(
                "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors",
                "model-00004-of-00004.safetensors", "model.safetensors.index.json");
        // with room for three per shard the same tensors make three shards
        Path ck3 = dir.resolve("ck3");
        Files.createDirectories(ck3);
        Files.writeString(ck3.resolve("config.json"), "{\"architectures\": [\"X\"]}");
        SafetensorsWriter w3 = new SafetensorsWriter(Map.of("format", "pt"));
        for (int i = 0; i < 7; i++) w3.add("layer." + i + ".weight", DType.F32, new long[]{4, 8}, f32(32, i));
        List<Path> files3 = w3.writeSharded(ck3, 3 * 128);
        assertThat(files3).hasSize(4);
        JsonNode idx = new ObjectMapper().readTree(ck3.resolve(SafetensorsWriter.INDEX).toFile());
        assertThat(idx.get("metadata").get("total_size").asLong()).isEqualTo(7 * 128);
        JsonNode wm = idx.get("weight_map");
        assertThat(wm.size()).isEqualTo(7);
        assertThat(wm.get("layer.0.weight").asText()).isEqualTo("model-00001-of-00003.safetensors");
        assertThat(wm.get("layer.3.weight").asText()).isEqualTo("model-00002-of-00003.safetensors");
        assertThat(wm.get("layer.6.weight").asText()).isEqualTo("model-00003-of-00003.safetensors");
        for (Iterator<Map.Entry<String, JsonNode>> it = wm.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            try (SafetensorsFile f = SafetensorsFile.open(ck3.resolve(e.getValue().asText()))) {
                assertThat(f.tensors()).containsKey(e.getKey());
                assertThat(f.metadata()).containsEntry("format", "pt");
            }
        }
        for (Path c : List.of(ck, ck3)) {
            try (Checkpoint cp = Checkpoint.open(c)) {
                int n = c == ck ? 6 : 7;
                assertThat(cp.tensors()).hasSize(7);
                for (int i = 0; i < n; i++) assertThat(cp.tensor("layer." + i + ".weight").data().mismatch(f32(32, i))).isEqualTo(-1);
                if (c == ck) assertThat(cp.tensor("huge.weight").data().mismatch(f32(100, 7))).isEqualTo(-1);
            }
        }
    }

    @Test
    void oneShardIsAPlainModelFile() {
        SafetensorsWriter w = new SafetensorsWriter(null).add("x", DType.F32, new long[]{2}, f32(2, 0));
        assertThat(w.writeSharded(dir, 1L << 30)).containsExactly(dir.resolve("model.safetensors"));
        assertThat(dir.resolve(SafetensorsWriter.INDEX)).doesNotExist();
    }

    @Test
    void aFailingShardLeavesNothing() throws IOException {
        SafetensorsWriter w = new SafetensorsWriter(Map.of());
        w.add("a", DType.F32, new long[]{32}, f32(32, 0));
        w.add("b", DType.F32, new long[]{32}, f32(32, 0));
        w.add("c", DType.F32, new long[]{32}, out -> { throw new IOException("source failed"); });
        assertThatThrownBy(() -> w.writeSharded(dir, 128)).isInstanceOf(JmoeException.class).hasMessageContaining("source failed");
        try (var files = Files.list(dir)) {
            assertThat(files).isEmpty();
        }
        assertThatThrownBy(() -> new SafetensorsWriter(Map.of()).add("q", DType.Q8_0, new long[]{32}, s -> { })).hasMessageContaining("cannot hold Q8_0");
        assertThatThrownBy(() -> new SafetensorsWriter(Map.of()).add("a", DType.F32, new long[]{1}, f32(1, 0)).add("a", DType.F32, new long[]{1}, f32(1, 0)))
                .hasMessageContaining("duplicate tensor a");
        assertThatThrownBy(() -> new SafetensorsWriter(Map.of()).add("s", DType.F32, new long[]{4}, s -> s.write(new byte[4], 0, 4)).write(dir.resolve("s.safetensors")))
                .hasMessageContaining("s.safetensors").hasMessageContaining("tensor s wrote 4 bytes, expected 16");
        assertThat(dir.resolve("s.safetensors")).doesNotExist();
    }
}
