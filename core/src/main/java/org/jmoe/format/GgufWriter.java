package org.jmoe.format;

import org.jmoe.JmoeException;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes GGUF v3 files: metadata of every value type (arrays of any element type, arrays of arrays), tensor
 * descriptors, and tensor data aligned to {@code general.alignment}. Tensor data is streamed: from a
 * {@link MemorySegment} (e.g. another mapped file) in bounded chunks, from a {@link DataSource} that writes
 * bytes, or from a {@link RowSource} that produces float rows encoded on the fly ({@link RowEncoder}), so
 * multi-GB files never sit on the heap. The file appears atomically: it is written to a temporary file beside
 * the target and renamed on success; on failure nothing is left.
 *
 * <p>Metadata values use {@link GgufFile}'s Java types: integers as any {@link Number}, FLOAT32 as
 * {@link Float}, FLOAT64 as {@link Double}, BOOL as {@link Boolean}, STRING as {@link String}. An ARRAY value
 * is an {@link Array} (element type given) or a plain Java array whose element type is implied: {@code String[]}
 * STRING, {@code float[]} FLOAT32, {@code double[]} FLOAT64, {@code boolean[]} BOOL, {@code byte[]} INT8,
 * {@code short[]} INT16, {@code int[]} INT32, {@code long[]} INT64, {@code Object[]} ARRAY (of arrays).
 */
public final class GgufWriter {
    /** Chunk size for copying segment-backed data. */
    static final int CHUNK = 1 << 20;

    /** Produces a tensor's bytes, in order, exactly as many as its shape and type need. */
    @FunctionalInterface
    public interface DataSource {
        void write(Sink out) throws IOException;
    }

    /** Produces a tensor's rows of {@code ne[0]} float values, in order; {@code dst} is reused between rows. */
    @FunctionalInterface
    public interface RowSource {
        void row(long r, float[] dst) throws IOException;
    }

    /** Where a {@link DataSource} writes. */
    public interface Sink {
        void write(byte[] b, int off, int len) throws IOException;

        /** Writes the buffer's remaining bytes (heap or direct) through a bounded chunk. */
        default void write(ByteBuffer b) throws IOException {
            if (b.hasArray()) {
                write(b.array(), b.arrayOffset() + b.position(), b.remaining());
                b.position(b.limit());
                return;
            }
            byte[] tmp = new byte[Math.min(CHUNK, Math.max(1, b.remaining()))];
            while (b.hasRemaining()) {
                int n = Math.min(tmp.length, b.remaining());
                b.get(tmp, 0, n);
                write(tmp, 0, n);
            }
        }

        /** Writes a whole segment (of any size, e.g. a mapped tensor beyond 2 GiB) through a bounded chunk. */
        default void write(MemorySegment seg) throws IOException {
            long size = seg.byteSize();
            byte[] tmp = new byte[(int) Math.min(CHUNK, Math.max(1, size))];
            for (long off = 0; off < size; ) {
                int n = (int) Math.min(tmp.length, size - off);
                MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, off, tmp, 0, n);
                write(tmp, 0, n);
                off += n;
            }
        }
    }

    /** An array value with an explicit element type; {@code values} is a Java array as described above. */
    public record Array(GgufType elementType, Object values) {
        public Array {
            if (elementType == null || values == null || !values.getClass().isArray()) {
                throw new IllegalArgumentException("an array value needs an element type and a Java array");
            }
        }

        int length() { return java.lang.reflect.Array.getLength(values); }
    }

    private record Meta(GgufType type, Object value, byte[] raw) { }

    private record TensorEntry(String name, DType type, long[] ne, long bytes, DataSource data) { }

    private final Map<String, Meta> meta = new LinkedHashMap<>();
    private final List<TensorEntry> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    /** Adds (or replaces) a metadata value; see the class comment for the Java types. */
    public GgufWriter put(String key, GgufType type, Object value) {
        checkKey(key);
        if (type == null || value == null) throw new IllegalArgumentException("metadata " + key + ": type and value are required");
        if (type == GgufType.ARRAY) {
            checkArray(key, value instanceof Array a ? a : implied(key, value), 0);
        } else {
            checkScalar(key, type, value);
        }
        if (key.equals("general.alignment")) alignment = checkAlignment(value);
        meta.put(key, new Meta(type, value, null));
        return this;
    }

    /** Adds an array value with an explicit element type, e.g. {@code putArray(k, GgufType.UINT32, new long[]{...})}. */
    public GgufWriter putArray(String key, GgufType elementType, Object values) {
        return put(key, GgufType.ARRAY, new Array(elementType, values));
    }

    public GgufWriter putString(String key, String v) { return put(key, GgufType.STRING, v); }
    public GgufWriter putU32(String key, long v) { return put(key, GgufType.UINT32, v); }
    public GgufWriter putI32(String key, long v) { return put(key, GgufType.INT32, v); }
    public GgufWriter putU64(String key, long v) { return put(key, GgufType.UINT64, v); }
    public GgufWriter putF32(String key, double v) { return put(key, GgufType.FLOAT32, (float) v); }
    public GgufWriter putF64(String key, double v) { return put(key, GgufType.FLOAT64, v); }
    public GgufWriter putBool(String key, boolean v) { return put(key, GgufType.BOOL, v); }

    /** Removes a metadata key (no effect if absent). */
    public GgufWriter remove(String key) {
        if (meta.remove(key) != null && key.equals("general.alignment")) alignment = GgufFile.DEFAULT_ALIGNMENT;
        return this;
    }

    /** Copies every metadata value of {@code f} byte for byte, with its declared type (array element types included). */
    public GgufWriter putAll(GgufFile f) {
        for (Map.Entry<String, Object> e : f.metadata().entrySet()) {
            String key = e.getKey();
            if (key.equals("general.alignment")) alignment = checkAlignment(e.getValue());
            meta.put(key, new Meta(f.metadataTypes().get(key), null, f.rawValue(key)));
        }
        return this;
    }

    /** Adds a tensor ({@code ne} in ggml order, innermost first) whose bytes {@code data} writes. */
    public GgufWriter addTensor(String name, DType type, long[] ne, DataSource data) {
        tensors.add(new TensorEntry(name, type, ne.clone(), checkTensor(name, type, ne), data));
        tensorNames.add(name);
        return this;
    }

    /** Adds a tensor whose bytes are {@code data} (e.g. a slice of a mapped file), copied in bounded chunks. */
    public GgufWriter addTensor(String name, DType type, long[] ne, MemorySegment data) {
        long bytes = checkTensor(name, type, ne);
        if (data.byteSize() != bytes) {
            throw new IllegalArgumentException("tensor " + name + ": " + data.byteSize() + " bytes given, " + Arrays.toString(ne) + " of " + type + " needs " + bytes);
        }
        return addTensor(name, type, ne, out -> out.write(data));
    }

    /** Adds a copy of {@code t} under its own name. */
    public GgufWriter addTensor(Tensor t) {
        return addTensor(t.name(), t.type(), t.shape(), t.data());
    }

    /** Adds a copy of {@code t}'s data under another name. */
    public GgufWriter addTensor(String name, Tensor t) {
        return addTensor(name, t.type(), t.shape(), t.data());
    }

    /**
     * Adds a tensor of type {@code type} whose float rows ({@code ne[0]} values each, {@code product(ne[1..])}
     * of them) {@code rows} produces one at a time; each is encoded as it is written (see {@link RowEncoder}).
     */
    public GgufWriter addTensorRows(String name, DType type, long[] ne, RowSource rows) {
        long bytes = checkTensor(name, type, ne);
        RowEncoder enc = RowEncoder.of(type);
        int cols = Math.toIntExact(ne[0]);
        long n = bytes / type.bytesFor(cols);
        return addTensor(name, type, ne, out -> {
            float[] row = new float[cols];
            byte[] buf = new byte[(int) type.bytesFor(cols)];
            for (long r = 0; r < n; r++) {
                rows.row(r, row);
                enc.encode(row, buf);
                out.write(buf, 0, buf.length);
            }
        });
    }

    public int alignment() { return alignment; }

    /** Writes the file atomically. */
    public void write(Path out) {
        AtomicFiles.write(out, tmp -> {
            try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), CHUNK)) {
                writeTo(os, out.toString());
            }
        });
    }

    private void writeTo(OutputStream os, String who) throws IOException {
        Out o = new Out(os);
        o.i32(GgufFile.MAGIC);
        o.i32(3);
        o.i64(tensors.size());
        o.i64(meta.size());
        for (Map.Entry<String, Meta> e : meta.entrySet()) {
            Meta m = e.getValue();
            o.str(e.getKey());
            o.i32(m.type().id());
            if (m.raw() != null) o.write(m.raw(), 0, m.raw().length);
            else value(o, m.type(), m.value(), e.getKey());
        }
        long offset = 0;
        for (TensorEntry t : tensors) {
            o.str(t.name());
            o.i32(t.ne().length);
            for (long d : t.ne()) o.i64(d);
            o.i32(t.type().ggmlId());
            o.i64(offset);
            offset = align(offset + t.bytes());
        }
        o.pad(align(o.pos) - o.pos);
        long dataStart = o.pos;
        for (TensorEntry t : tensors) {
            long before = o.pos;
            o.limit = before + t.bytes();
            o.tensor = t.name();
            t.data().write(o);
            o.limit = Long.MAX_VALUE;
            if (o.pos - before != t.bytes()) {
                throw new JmoeException(who, "data source of tensor " + t.name() + " wrote " + (o.pos - before) + " bytes, expected " + t.bytes());
            }
            o.pad(align(o.pos - dataStart) - (o.pos - dataStart));
        }
    }

    private long align(long x) {
        return (x + alignment - 1) / alignment * alignment;
    }

    // ---- validation (before anything is written) ----

    private static void checkKey(String key) {
        if (key == null || key.isEmpty()) throw new IllegalArgumentException("metadata key must not be empty");
    }

    private static int checkAlignment(Object v) {
        long a = v instanceof Number n ? n.longValue() : -1;
        if (a <= 0 || a > (1 << 20) || (a & (a - 1)) != 0) throw new IllegalArgumentException("general.alignment must be a power of two, got " + v);
        return (int) a;
    }

    private long checkTensor(String name, DType type, long[] ne) {
        if (name == null || name.isEmpty() || name.getBytes(StandardCharsets.UTF_8).length >= 64) {
            throw new IllegalArgumentException("tensor name must be 1 to 63 bytes: '" + name + "'");
        }
        if (tensorNames.contains(name)) throw new IllegalArgumentException("duplicate tensor " + name);
        if (ne.length < 1 || ne.length > 4) throw new IllegalArgumentException("tensor " + name + ": " + ne.length + " dimensions (1 to 4 allowed)");
        long n = 1;
        for (long d : ne) {
            if (d <= 0) throw new IllegalArgumentException("tensor " + name + ": dimension " + d + " in " + Arrays.toString(ne));
            n = Math.multiplyExact(n, d);
        }
        if (ne[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor " + name + ": row length " + ne[0] + " is not a multiple of " + type + "'s block size " + type.blockSize());
        }
        return type.bytesFor(n);
    }

    private static void checkScalar(String key, GgufType type, Object v) {
        boolean ok = switch (type) {
            case UINT8 -> v instanceof Number n && inRange(n, 0, 0xff);
            case INT8 -> v instanceof Number n && inRange(n, Byte.MIN_VALUE, Byte.MAX_VALUE);
            case UINT16 -> v instanceof Number n && inRange(n, 0, 0xffff);
            case INT16 -> v instanceof Number n && inRange(n, Short.MIN_VALUE, Short.MAX_VALUE);
            case UINT32 -> v instanceof Number n && inRange(n, 0, 0xffffffffL);
            case INT32 -> v instanceof Number n && inRange(n, Integer.MIN_VALUE, Integer.MAX_VALUE);
            case UINT64, INT64 -> v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte;
            case FLOAT32, FLOAT64 -> v instanceof Number;
            case BOOL -> v instanceof Boolean;
            case STRING -> v instanceof String;
            case ARRAY -> false;
        };
        if (!ok) throw new IllegalArgumentException("metadata " + key + ": " + v + " (" + v.getClass().getSimpleName() + ") is not a " + type + " value");
    }

    private static boolean inRange(Number n, long lo, long hi) {
        if (n instanceof Float || n instanceof Double) return false;
        long x = n.longValue();
        return x >= lo && x <= hi;
    }

    private static Array implied(String key, Object v) {
        GgufType t = switch (v) {
            case String[] a -> GgufType.STRING;
            case float[] a -> GgufType.FLOAT32;
            case double[] a -> GgufType.FLOAT64;
            case boolean[] a -> GgufType.BOOL;
            case byte[] a -> GgufType.INT8;
            case short[] a -> GgufType.INT16;
            case int[] a -> GgufType.INT32;
            case long[] a -> GgufType.INT64;
            case Object[] a -> GgufType.ARRAY;
            default -> throw new IllegalArgumentException("metadata " + key + ": " + v.getClass().getSimpleName() + " is not an array value");
        };
        return new Array(t, v);
    }

    private static void checkArray(String key, Array a, int depth) {
        if (depth > 2) throw new IllegalArgumentException("metadata " + key + ": arrays nested more than 3 deep");
        Object v = a.values();
        GgufType t = a.elementType();
        boolean ok = switch (t) {
            case STRING -> v instanceof String[];
            case FLOAT32 -> v instanceof float[] || v instanceof double[];
            case FLOAT64 -> v instanceof double[] || v instanceof float[];
            case BOOL -> v instanceof boolean[];
            case ARRAY -> v instanceof Object[];
            default -> v instanceof byte[] || v instanceof short[] || v instanceof int[] || v instanceof long[];
        };
        if (!ok) throw new IllegalArgumentException("metadata " + key + ": a " + v.getClass().getSimpleName() + " cannot hold " + t + " elements");
        int n = a.length();
        for (int i = 0; i < n; i++) {
            Object x = java.lang.reflect.Array.get(v, i);
            switch (t) {
                case STRING -> { if (x == null) throw new IllegalArgumentException("metadata " + key + "[" + i + "]: null string"); }
                case ARRAY -> {
                    if (x == null) throw new IllegalArgumentException("metadata " + key + "[" + i + "]: null array");
                    checkArray(key, x instanceof Array in ? in : implied(key, x), depth + 1);
                }
                case FLOAT32, FLOAT64, BOOL -> { }
                default -> checkScalar(key + "[" + i + "]", t, x);
            }
        }
    }

    // ---- encoding ----

    private static void value(Out o, GgufType type, Object v, String key) throws IOException {
        switch (type) {
            case UINT8, INT8 -> o.u8(((Number) v).intValue());
            case UINT16, INT16 -> o.i16(((Number) v).intValue());
            case UINT32, INT32 -> o.i32(((Number) v).intValue());
            case UINT64, INT64 -> o.i64(((Number) v).longValue());
            case FLOAT32 -> o.i32(Float.floatToRawIntBits(((Number) v).floatValue()));
            case FLOAT64 -> o.i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
            case BOOL -> o.u8(((Boolean) v) ? 1 : 0);
            case STRING -> o.str((String) v);
            case ARRAY -> array(o, v instanceof Array a ? a : implied(key, v), key);
        }
    }

    private static void array(Out o, Array a, String key) throws IOException {
        GgufType t = a.elementType();
        Object v = a.values();
        int n = a.length();
        o.i32(t.id());
        o.i64(n);
        for (int i = 0; i < n; i++) {
            Object x = java.lang.reflect.Array.get(v, i);
            if (t == GgufType.ARRAY) array(o, x instanceof Array in ? in : implied(key, x), key);
            else value(o, t, x, key);
        }
    }

    /** Little-endian output that counts bytes and refuses to let a tensor's source write past its size. */
    private static final class Out implements Sink {
        final OutputStream os;
        final byte[] buf = new byte[8];
        final ByteBuffer bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        long pos;
        long limit = Long.MAX_VALUE;
        String tensor;

        Out(OutputStream os) { this.os = os; }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (len > limit - pos) throw new IOException("data source of tensor " + tensor + " wrote more bytes than its shape holds");
            os.write(b, off, len);
            pos += len;
        }

        void u8(int v) throws IOException { buf[0] = (byte) v; write(buf, 0, 1); }

        void i16(int v) throws IOException { bb.putShort(0, (short) v); write(buf, 0, 2); }

        void i32(int v) throws IOException { bb.putInt(0, v); write(buf, 0, 4); }

        void i64(long v) throws IOException { bb.putLong(0, v); write(buf, 0, 8); }

        void str(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            write(b, 0, b.length);
        }

        void pad(long n) throws IOException {
            byte[] z = new byte[(int) n];
            write(z, 0, z.length);
        }
    }
}
