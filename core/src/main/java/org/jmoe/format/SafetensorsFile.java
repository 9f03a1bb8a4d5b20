package org.jmoe.format;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.JmoeException;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One safetensors file, memory-mapped: an 8-byte little-endian header length, a JSON header
 * {@code {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}}, then the data. The header
 * size, every dtype, shape and extent are checked before any tensor is used. Shapes are converted to ggml
 * order (innermost first) for {@link Tensor}.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Headers larger than this are refused as corrupt (real checkpoints use a few MB at most). */
    public static final long MAX_HEADER = 100L << 20;

    private final Path path;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    public static SafetensorsFile open(Path path) {
        String who = path.toString();
        MappedFile m = MappedFile.map(path, "safetensors file");
        long size = m.size();
        Arena arena = m.arena();
        try {
            if (size < 8) throw new JmoeException(who, "truncated: " + size + " bytes, a safetensors file needs at least 8", "byte offset 0");
            MemorySegment seg = m.segment();
            long hlen = seg.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
            if (hlen < 2 || hlen > MAX_HEADER || hlen > size - 8) {
                throw new JmoeException(who, "absurd header size " + Long.toUnsignedString(hlen) + " for a file of " + size + " bytes", "byte offset 0");
            }
            byte[] hb = seg.asSlice(8, hlen).toArray(ValueLayout.JAVA_BYTE);
            JsonNode root;
            try {
                root = new ObjectMapper().readTree(new String(hb, StandardCharsets.UTF_8).trim());
            } catch (JsonProcessingException e) {
                throw new JmoeException(who, "malformed header JSON: " + e.getOriginalMessage(), "byte offset " + (8 + e.getLocation().getCharOffset()));
            }
            if (root == null || !root.isObject()) throw new JmoeException(who, "header is not a JSON object", "byte offset 8");
            long dataStart = 8 + hlen;
            long dataSize = size - dataStart;
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Map<String, String> meta = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.properties().iterator(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String name = e.getKey();
                JsonNode v = e.getValue();
                if (name.equals("__metadata__")) {
                    if (v.isObject()) v.properties().forEach(kv -> meta.put(kv.getKey(), kv.getValue().asText()));
                    continue;
                }
                tensors.put(name, tensor(who, name, v, seg, dataStart, dataSize));
            }
            return new SafetensorsFile(path, arena, tensors, meta);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Tensor tensor(String who, String name, JsonNode v, MemorySegment seg, long dataStart, long dataSize) {
        String where = "tensor " + name;
        if (!v.isObject() || !v.has("dtype") || !v.has("shape") || !v.has("data_offsets")) {
            throw new JmoeException(who, "tensor entry needs dtype, shape and data_offsets", where);
        }
        String dt = v.get("dtype").asText();
        DType type = switch (dt) {
            case "F32" -> DType.F32;
            case "F16" -> DType.F16;
            case "BF16" -> DType.BF16;
            case "F64" -> DType.F64;
            case "I8" -> DType.I8;
            case "I16" -> DType.I16;
            case "I32" -> DType.I32;
            case "I64" -> DType.I64;
            default -> throw new JmoeException(who, "unsupported dtype '" + dt + "'", where);
        };
        JsonNode shape = v.get("shape");
        JsonNode offs = v.get("data_offsets");
        if (!shape.isArray() || shape.size() > 4 || !offs.isArray() || offs.size() != 2) {
            throw new JmoeException(who, "shape must be an array of at most 4 sizes and data_offsets a pair", where);
        }
        int nd = shape.size();
        long[] ne = new long[Math.max(1, nd)];
        ne[0] = 1;
        long count = 1;
        for (int i = 0; i < nd; i++) {
            JsonNode d = shape.get(i);
            if (!d.canConvertToLong() || d.asLong() < 0) {
                throw new JmoeException(who, "bad dimension " + d, where + ", dim " + i);
            }
            ne[nd - 1 - i] = d.asLong();
            if (d.asLong() != 0 && count > Long.MAX_VALUE / 8 / d.asLong()) {
                throw new JmoeException(who, "absurd element count (shape " + shape + ")", where);
            }
            count *= d.asLong();
        }
        long begin = offs.get(0).asLong(-1), end = offs.get(1).asLong(-1);
        long bytes = type.bytesFor(count);
        if (begin < 0 || end < begin || end > dataSize) {
            throw new JmoeException(who, "tensor data out of bounds: bytes " + begin + ".." + end + " of a data section of " + dataSize, where + ", byte offset " + (dataStart + Math.max(0, begin)));
        }
        if (end - begin != bytes) {
            throw new JmoeException(who, "data size " + (end - begin) + " does not match shape " + shape + " of " + dt + " (" + bytes + " bytes)", where);
        }
        return new Tensor(name, type, ne, seg.asSlice(dataStart + begin, bytes));
    }

    public Path path() { return path; }
    public Map<String, Tensor> tensors() { return tensors; }
    public Map<String, String> metadata() { return metadata; }

    @Override
    public void close() {
        arena.close();
    }
}
