package org.jmoe.format;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Writes safetensors: an 8-byte little-endian header length, the JSON header (with {@code __metadata__})
 * padded with spaces to a multiple of 8 as Hugging Face's writer does, then the tensors' data in the order
 * added. Shapes are given in numpy order (outermost first). Data is streamed like {@link GgufWriter}'s.
 *
 * <p>{@link #write(Path)} writes one file; {@link #writeSharded(Path, long)} writes a checkpoint directory's
 * weights: {@code model.safetensors} when everything fits in one shard, otherwise
 * {@code model-0000i-of-0000n.safetensors} plus {@code model.safetensors.index.json}
 * ({@code metadata.total_size}, {@code weight_map}). Every file appears atomically (temporary file and
 * rename); the index is written last, and on failure the shards written so far are removed.
 */
public final class SafetensorsWriter {
    public static final String INDEX = "model.safetensors.index.json";

    private record Entry(String name, DType type, long[] shape, long bytes, GgufWriter.DataSource data) { }

    private final List<Entry> entries = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> metadata;

    /** {@code metadata} goes into {@code __metadata__} (null or empty: none). */
    public SafetensorsWriter(Map<String, String> metadata) {
        this.metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
    }

    /** The safetensors dtype name of {@code type}, or null if safetensors cannot hold it. */
    public static String dtypeName(DType type) {
        return switch (type) {
            case F32, F16, BF16, F64, I8, I16, I32, I64 -> type.name();
            default -> null;
        };
    }

    /** Adds a tensor ({@code shape} outermost first) whose bytes {@code data} writes. */
    public SafetensorsWriter add(String name, DType type, long[] shape, GgufWriter.DataSource data) {
        if (name == null || name.isEmpty() || name.equals("__metadata__")) throw new IllegalArgumentException("bad tensor name '" + name + "'");
        if (!names.add(name)) throw new IllegalArgumentException("duplicate tensor " + name);
        if (dtypeName(type) == null) throw new IllegalArgumentException("safetensors cannot hold " + type + " (tensor " + name + ")");
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("tensor " + name + ": negative dimension in " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        entries.add(new Entry(name, type, shape.clone(), type.bytesFor(n), data));
        return this;
    }

    /** Adds a tensor whose bytes are {@code data}, copied in bounded chunks. */
    public SafetensorsWriter add(String name, DType type, long[] shape, MemorySegment data) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        if (data.byteSize() != type.bytesFor(n)) {
            throw new IllegalArgumentException("tensor " + name + ": " + data.byteSize() + " bytes given, " + Arrays.toString(shape) + " of " + type + " needs " + type.bytesFor(n));
        }
        return add(name, type, shape, out -> out.write(data));
    }

    /** Adds a copy of {@code t} (ggml order shape, reversed to numpy order). */
    public SafetensorsWriter add(String name, Tensor t) {
        long[] ne = t.shape();
        long[] shape = new long[ne.length];
        for (int i = 0; i < ne.length; i++) shape[i] = ne[ne.length - 1 - i];
        return add(name, t.type(), shape, t.data());
    }

    /** Adds float rows encoded as {@code type} (F32, F16 or BF16): {@code shape[last]} values per row. */
    public SafetensorsWriter addRows(String name, DType type, long[] shape, GgufWriter.RowSource rows) {
        if (shape.length == 0) throw new IllegalArgumentException("tensor " + name + ": rows need at least one dimension");
        int cols = Math.toIntExact(shape[shape.length - 1]);
        long n = 1;
        for (int i = 0; i < shape.length - 1; i++) n = Math.multiplyExact(n, shape[i]);
        long count = n;
        RowEncoder enc = RowEncoder.of(type);
        return add(name, type, shape, out -> {
            float[] row = new float[cols];
            byte[] buf = new byte[(int) type.bytesFor(cols)];
            for (long r = 0; r < count; r++) {
                rows.row(r, row);
                enc.encode(row, buf);
                out.write(buf, 0, buf.length);
            }
        });
    }

    /** Total tensor data bytes. */
    public long dataBytes() {
        long n = 0;
        for (Entry e : entries) n += e.bytes();
        return n;
    }

    /** Writes every tensor to one file. */
    public void write(Path out) {
        writeFile(out, entries);
    }

    /**
     * Writes the tensors into {@code dir} as shards of at most {@code maxShardBytes} data bytes each (a tensor
     * larger than that gets a shard of its own, as Hugging Face does); returns the files written, index last.
     */
    public List<Path> writeSharded(Path dir, long maxShardBytes) {
        if (maxShardBytes <= 0) throw new IllegalArgumentException("max shard size must be positive, got " + maxShardBytes);
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> cur = new ArrayList<>();
        long curBytes = 0;
        for (Entry e : entries) {
            if (!cur.isEmpty() && curBytes + e.bytes() > maxShardBytes) {
                shards.add(cur);
                cur = new ArrayList<>();
                curBytes = 0;
            }
            cur.add(e);
            curBytes += e.bytes();
        }
        if (!cur.isEmpty() || shards.isEmpty()) shards.add(cur);
        if (shards.size() == 1) {
            Path p = dir.resolve("model.safetensors");
            writeFile(p, shards.get(0));
            return List.of(p);
        }
        int n = shards.size();
        List<Path> written = new ArrayList<>();
        try {
            Map<String, String> weightMap = new TreeMap<>();
            for (int i = 0; i < n; i++) {
                String file = String.format("model-%05d-of-%05d.safetensors", i + 1, n);
                Path p = dir.resolve(file);
                writeFile(p, shards.get(i));
                written.add(p);
                for (Entry e : shards.get(i)) weightMap.put(e.name(), file);
            }
            ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            ObjectNode idx = om.createObjectNode();
            idx.putObject("metadata").put("total_size", dataBytes());
            ObjectNode wm = idx.putObject("weight_map");
            weightMap.forEach(wm::put);
            String json = om.writeValueAsString(idx) + "\n";
            Path index = dir.resolve(INDEX);
            AtomicFiles.write(index, tmp -> Files.writeString(tmp, json));
            written.add(index);
            return written;
        } catch (IOException | RuntimeException e) {
            for (Path p : written) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // the original error is what matters
                }
            }
            if (e instanceof JmoeException je) throw je;
            throw new JmoeException(dir.toString(), "cannot write: " + e.getMessage(), null, e);
        }
    }

    private void writeFile(Path out, List<Entry> list) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode h = om.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = h.putObject("__metadata__");
            new TreeMap<>(metadata).forEach(m::put);
        }
        long off = 0;
        for (Entry e : list) {
            ObjectNode t = h.putObject(e.name());
            t.put("dtype", dtypeName(e.type()));
            var shape = t.putArray("shape");
            for (long d : e.shape()) shape.add(d);
            var offs = t.putArray("data_offsets");
            offs.add(off);
            offs.add(off + e.bytes());
            off += e.bytes();
        }
        byte[] json;
        try {
            json = om.writeValueAsString(h).getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        int padded = (json.length + 7) / 8 * 8;
        AtomicFiles.write(out, tmp -> {
            try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), GgufWriter.CHUNK)) {
                os.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, padded).array());
                os.write(json);
                for (int i = json.length; i < padded; i++) os.write(' ');
                for (Entry e : list) {
                    long[] count = {0};
                    GgufWriter.Sink sink = (b, o, l) -> {
                        if (l > e.bytes() - count[0]) throw new IOException("data source of tensor " + e.name() + " wrote more bytes than its shape holds");
                        os.write(b, o, l);
                        count[0] += l;
                    };
                    e.data().write(sink);
                    if (count[0] != e.bytes()) {
                        throw new JmoeException(out.toString(), "data source of tensor " + e.name() + " wrote " + count[0] + " bytes, expected " + e.bytes());
                    }
                }
            }
        });
    }
}
