package org.jmoe.format;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.tensor.DType;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file: 8-byte header length, the JSON header padded with spaces to a multiple of 8,
 * then the tensors' data in order. Shapes are given in numpy order (outermost first). Atomic like
 * {@link GgufWriter}: written beside the target and renamed on success.
 */
public final class SafetensorsWriter {
    private record Entry(String name, DType type, long[] shape, long bytes, GgufWriter.DataSource data) { }

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata;

    public SafetensorsWriter(Map<String, String> metadata) {
        this.metadata = metadata;
    }

    public SafetensorsWriter add(String name, DType type, long[] shape, GgufWriter.DataSource data) {
        if (type != DType.F32 && type != DType.F16 && type != DType.BF16) throw new IllegalArgumentException("safetensors holds F32/F16/BF16 here, not " + type);
        long n = 1;
        for (long d : shape) n *= d;
        entries.add(new Entry(name, type, shape.clone(), type.bytesFor(n), data));
        return this;
    }

    public long dataBytes() {
        long n = 0;
        for (Entry e : entries) n += e.bytes();
        return n;
    }

    public void write(Path out) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode h = om.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = h.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long off = 0;
        for (Entry e : entries) {
            ObjectNode t = h.putObject(e.name());
            t.put("dtype", e.type().name());
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
            try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                os.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, padded).array());
                os.write(json);
                for (int i = json.length; i < padded; i++) os.write(' ');
                long[] count = {0};
                GgufWriter.Sink sink = (b, o, l) -> { os.write(b, o, l); count[0] += l; };
                for (Entry e : entries) {
                    count[0] = 0;
                    e.data().write(sink);
                    if (count[0] != e.bytes()) throw new IllegalStateException("tensor " + e.name() + ": wrote " + count[0] + " bytes, expected " + e.bytes());
                }
            }
        });
    }
}
