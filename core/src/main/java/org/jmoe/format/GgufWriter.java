package org.jmoe.format;

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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF v3 files: metadata of every value type, tensor descriptors, and tensor data aligned to
 * {@code general.alignment}. Tensor data is streamed from a {@link DataSource} (rows can be generated or
 * quantized on the fly, so multi-GB files never sit on the heap). The file appears atomically: it is
 * written to a temporary file beside the target and renamed on success; on failure nothing is left.
 */
public final class GgufWriter {
    /** Produces a tensor's bytes, in order, exactly {@code bytes} of them. */
    @FunctionalInterface
    public interface DataSource {
        void write(Sink out) throws IOException;
    }

    /** Where a {@link DataSource} writes. */
    public interface Sink {
        void write(byte[] b, int off, int len) throws IOException;

        default void write(ByteBuffer b) throws IOException {
            if (b.hasArray()) {
                write(b.array(), b.arrayOffset() + b.position(), b.remaining());
                b.position(b.limit());
            } else {
                byte[] tmp = new byte[b.remaining()];
                b.get(tmp);
                write(tmp, 0, tmp.length);
            }
        }
    }

    private record Meta(GgufType type, Object value) { }

    private record TensorEntry(String name, DType type, long[] ne, long bytes, DataSource data) { }

    private final Map<String, Meta> meta = new LinkedHashMap<>();
    private final List<TensorEntry> tensors = new ArrayList<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    /** Adds a metadata value; {@code value} uses {@link GgufFile}'s Java types (Long, Float, String, long[], String[], ...). */
    public GgufWriter put(String key, GgufType type, Object value) {
        if (key.equals("general.alignment")) {
            long a = ((Number) value).longValue();
            if (a <= 0 || (a & (a - 1)) != 0) throw new IllegalArgumentException("alignment must be a power of two, got " + a);
            alignment = (int) a;
        }
        meta.put(key, new Meta(type, value));
        return this;
    }

    public GgufWriter putString(String key, String v) { return put(key, GgufType.STRING, v); }
    public GgufWriter putU32(String key, long v) { return put(key, GgufType.UINT32, v); }
    public GgufWriter putI32(String key, long v) { return put(key, GgufType.INT32, v); }
    public GgufWriter putF32(String key, double v) { return put(key, GgufType.FLOAT32, (float) v); }
    public GgufWriter putBool(String key, boolean v) { return put(key, GgufType.BOOL, v); }

    /** Copies every metadata value of {@code f} with its declared type. */
    public GgufWriter putAll(GgufFile f) {
        for (Map.Entry<String, Object> e : f.metadata().entrySet()) put(e.getKey(), f.metadataTypes().get(e.getKey()), e.getValue());
        return this;
    }

    public GgufWriter addTensor(String name, DType type, long[] ne, DataSource data) {
        long n = 1;
        for (long d : ne) n *= d;
        tensors.add(new TensorEntry(name, type, ne.clone(), type.bytesFor(n), data));
        return this;
    }

    /** Writes the file atomically. */
    public void write(Path out) {
        AtomicFiles.write(out, tmp -> {
            try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                writeTo(os);
            }
        });
    }

    private void writeTo(OutputStream os) throws IOException {
        Out o = new Out(os);
        o.i32(GgufFile.MAGIC);
        o.i32(3);
        o.i64(tensors.size());
        o.i64(meta.size());
        for (Map.Entry<String, Meta> e : meta.entrySet()) {
            o.str(e.getKey());
            o.i32(e.getValue().type().id());
            value(o, e.getValue().type(), e.getValue().value());
        }
        long offset = 0;
        long[] offsets = new long[tensors.size()];
        for (int i = 0; i < tensors.size(); i++) {
            TensorEntry t = tensors.get(i);
            o.str(t.name());
            o.i32(t.ne().length);
            for (long d : t.ne()) o.i64(d);
            o.i32(t.type().ggmlId());
            offsets[i] = offset;
            o.i64(offset);
            offset = align(offset + t.bytes());
        }
        o.pad(align(o.pos) - o.pos);
        long dataStart = o.pos;
        for (int i = 0; i < tensors.size(); i++) {
            TensorEntry t = tensors.get(i);
            long before = o.pos;
            t.data().write(o);
            long written = o.pos - before;
            if (written != t.bytes()) {
                throw new IllegalStateException("tensor " + t.name() + ": data source wrote " + written + " bytes, expected " + t.bytes());
            }
            o.pad(align(o.pos - dataStart) - (o.pos - dataStart));
        }
    }

    private long align(long x) {
        return (x + alignment - 1) / alignment * alignment;
    }

    private static void value(Out o, GgufType type, Object v) throws IOException {
        switch (type) {
            case UINT8, INT8 -> o.u8(((Number) v).intValue());
            case UINT16, INT16 -> o.i16(((Number) v).intValue());
            case UINT32, INT32 -> o.i32(((Number) v).intValue());
            case UINT64, INT64 -> o.i64(((Number) v).longValue());
            case FLOAT32 -> o.i32(Float.floatToRawIntBits(((Number) v).floatValue()));
            case FLOAT64 -> o.i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
            case BOOL -> o.u8(((Boolean) v) ? 1 : 0);
            case STRING -> o.str((String) v);
            case ARRAY -> array(o, v);
        }
    }

    private static void array(Out o, Object v) throws IOException {
        switch (v) {
            case String[] a -> { o.i32(GgufType.STRING.id()); o.i64(a.length); for (String s : a) o.str(s); }
            case float[] a -> { o.i32(GgufType.FLOAT32.id()); o.i64(a.length); for (float f : a) o.i32(Float.floatToRawIntBits(f)); }
            case double[] a -> { o.i32(GgufType.FLOAT64.id()); o.i64(a.length); for (double d : a) o.i64(Double.doubleToRawLongBits(d)); }
            case boolean[] a -> { o.i32(GgufType.BOOL.id()); o.i64(a.length); for (boolean b : a) o.u8(b ? 1 : 0); }
            case int[] a -> { o.i32(GgufType.INT32.id()); o.i64(a.length); for (int x : a) o.i32(x); }
            case long[] a -> { o.i32(GgufType.INT32.id()); o.i64(a.length); for (long x : a) o.i32((int) x); }
            case Object[] a -> {
                o.i32(GgufType.ARRAY.id());
                o.i64(a.length);
                for (Object x : a) array(o, x);
            }
            default -> throw new IllegalArgumentException("unsupported GGUF array value " + v.getClass());
        }
    }

    /** Little-endian output that counts bytes. */
    private static final class Out implements Sink {
        final OutputStream os;
        final byte[] buf = new byte[8];
        long pos;

        Out(OutputStream os) { this.os = os; }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            os.write(b, off, len);
            pos += len;
        }

        void u8(int v) throws IOException { os.write(v); pos++; }

        void i16(int v) throws IOException { buf[0] = (byte) v; buf[1] = (byte) (v >> 8); write(buf, 0, 2); }

        void i32(int v) throws IOException {
            ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN).putInt(0, v);
            write(buf, 0, 4);
        }

        void i64(long v) throws IOException {
            ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
            write(buf, 0, 8);
        }

        void str(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            write(b, 0, b.length);
        }

        void pad(long n) throws IOException {
            for (long i = 0; i < n; i++) u8(0);
        }
    }
}
