package org.jmoe.format;

import org.jmoe.JmoeException;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A GGUF file (versions 2 and 3), memory-mapped: metadata and tensor descriptors are parsed from the header;
 * tensor data stays in the mapping (never copied to the heap). Every count, length and tensor extent is checked
 * against the file size before anything is allocated or read, so a truncated or corrupt file fails with a
 * one-line {@link JmoeException} naming the byte offset.
 *
 * <p>Metadata values are exposed as: every integer type → {@link Long}, float32 → {@link Float}, float64 →
 * {@link Double}, bool → {@link Boolean}, string → {@link String}; arrays → {@code String[]}, {@code long[]}
 * (all integer types), {@code float[]}, {@code double[]}, {@code boolean[]} or {@code Object[]} (arrays of arrays).
 */
public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" little-endian
    public static final int DEFAULT_ALIGNMENT = 32;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, GgufType> metadataTypes;
    private final Map<String, Tensor> tensors;
    private final Map<String, Long> tensorOffsets;
    private final Map<String, long[]> valueSpans;
    private final long dataStart;
    private final int alignment;

    private GgufFile(Path path, Arena arena, MemorySegment file, int version, Map<String, Object> metadata,
                     Map<String, GgufType> metadataTypes, Map<String, long[]> valueSpans, Map<String, Tensor> tensors,
                     Map<String, Long> tensorOffsets, long dataStart, int alignment) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.metadataTypes = Collections.unmodifiableMap(metadataTypes);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.tensorOffsets = Collections.unmodifiableMap(tensorOffsets);
        this.valueSpans = valueSpans;
        this.dataStart = dataStart;
        this.alignment = alignment;
    }

    /** Maps and parses {@code path}; the mapping lives until {@link #close()}. */
    public static GgufFile open(Path path) {
        MappedFile m = MappedFile.map(path, "GGUF file");
        try {
            return parse(path, m.arena(), m.segment(), m.size());
        } catch (RuntimeException e) {
            m.arena().close();
            throw e;
        }
    }

    private static GgufFile parse(Path path, Arena arena, MemorySegment seg, long size) {
        Reader r = new Reader(path.toString(), seg, size);
        if (size < 4 || r.i32() != MAGIC) {
            String got = size < 4 ? "file of " + size + " bytes" : String.format("0x%08x", seg.get(I32, 0));
            throw new JmoeException(path.toString(), "not a GGUF file: bad magic", "byte offset 0, got " + got);
        }
        int version = r.i32();
        if (version != 2 && version != 3) {
            throw new JmoeException(path.toString(), "unsupported GGUF version " + version + " (jmoe reads 2 and 3)", "byte offset 4");
        }
        long tensorCount = r.i64();
        long kvCount = r.i64();
        // Each tensor descriptor takes at least 8+4+8+4+8 bytes, each key/value at least 8+4+1.
        if (tensorCount < 0 || tensorCount > (size - r.pos) / 32) {
            throw new JmoeException(path.toString(), "absurd tensor count " + Long.toUnsignedString(tensorCount) + " for a file of " + size + " bytes", "byte offset 8");
        }
        if (kvCount < 0 || kvCount > (size - r.pos) / 13) {
            throw new JmoeException(path.toString(), "absurd metadata count " + Long.toUnsignedString(kvCount) + " for a file of " + size + " bytes", "byte offset 16");
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        Map<String, GgufType> types = new LinkedHashMap<>();
        Map<String, long[]> spans = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            long at = r.pos;
            String key = r.string("metadata key #" + i);
            int typeId = r.i32();
            GgufType type = GgufType.of(typeId);
            if (type == null) throw new JmoeException(path.toString(), "unknown metadata value type " + typeId, "key " + show(key) + ", byte offset " + (r.pos - 4));
            if (meta.containsKey(key)) throw new JmoeException(path.toString(), "duplicate metadata key", "key " + show(key) + ", byte offset " + at);
            long valueAt = r.pos;
            meta.put(key, r.value(type, key, 0));
            types.put(key, type);
            spans.put(key, new long[]{valueAt, r.pos});
        }
        int alignment = DEFAULT_ALIGNMENT;
        Object al = meta.get("general.alignment");
        if (al != null) {
            if (!(al instanceof Long a) || a <= 0 || a > (1 << 20) || (a & (a - 1)) != 0) {
                throw new JmoeException(path.toString(), "general.alignment must be a power of two, got " + al, "key general.alignment");
            }
            alignment = (int) (long) (Long) al;
        }
        String[] names = new String[(int) tensorCount];
        DType[] dtypes = new DType[(int) tensorCount];
        long[][] shapes = new long[(int) tensorCount][];
        long[] offsets = new long[(int) tensorCount];
        for (int i = 0; i < tensorCount; i++) {
            String name = r.string("tensor name #" + i);
            long at = r.pos;
            int nd = r.i32();
            if (nd < 1 || nd > 4) throw new JmoeException(path.toString(), "tensor has " + nd + " dimensions (1 to 4 allowed)", "tensor " + show(name) + ", byte offset " + at);
            long[] ne = new long[nd];
            long count = 1;
            for (int d = 0; d < nd; d++) {
                ne[d] = r.i64();
                if (ne[d] <= 0 || ne[d] > size * 8) {
                    throw new JmoeException(path.toString(), "absurd dimension " + Long.toUnsignedString(ne[d]), "tensor " + show(name) + ", dim " + d + ", byte offset " + (r.pos - 8));
                }
                count = Math.multiplyHigh(count, ne[d]) != 0 ? Long.MAX_VALUE : count * ne[d];
                if (count < 0 || count > size * 8) {
                    throw new JmoeException(path.toString(), "absurd element count for a file of " + size + " bytes", "tensor " + show(name));
                }
            }
            int tid = r.i32();
            DType dt = DType.ofGgmlId(tid);
            if (dt == null) throw new JmoeException(path.toString(), "unknown tensor dtype id " + tid, "tensor " + show(name) + ", byte offset " + (r.pos - 4));
            if (ne[0] % dt.blockSize() != 0) {
                throw new JmoeException(path.toString(), "row length " + ne[0] + " is not a multiple of " + dt + "'s block size " + dt.blockSize(), "tensor " + show(name));
            }
            long off = r.i64();
            names[i] = name;
            dtypes[i] = dt;
            shapes[i] = ne;
            offsets[i] = off;
        }
        long dataStart = (r.pos + alignment - 1) / alignment * alignment;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, Long> tensorOffsets = new LinkedHashMap<>();
        for (int i = 0; i < tensorCount; i++) {
            long count = 1;
            for (long d : shapes[i]) count *= d;
            long bytes = dtypes[i].bytesFor(count);
            long off = offsets[i];
            if (off < 0 || off % alignment != 0) {
                throw new JmoeException(path.toString(), "tensor data offset " + Long.toUnsignedString(off) + " is not aligned to " + alignment, "tensor " + show(names[i]));
            }
            long start = dataStart + off;
            if (start < dataStart || start > size || bytes > size - start) {
                throw new JmoeException(path.toString(), "tensor data out of bounds: needs bytes " + start + ".." + (start + bytes) + " of a file of " + size,
                        "tensor " + show(names[i]) + ", byte offset " + start);
            }
            if (tensors.containsKey(names[i])) throw new JmoeException(path.toString(), "duplicate tensor name", "tensor " + show(names[i]));
            tensors.put(names[i], new Tensor(names[i], dtypes[i], shapes[i], seg.asSlice(start, bytes)));
            tensorOffsets.put(names[i], off);
        }
        return new GgufFile(path, arena, seg, version, meta, types, spans, tensors, tensorOffsets, dataStart, alignment);
    }

    public Path path() { return path; }
    public int version() { return version; }
    public int alignment() { return alignment; }
    public long dataStart() { return dataStart; }
    public long fileSize() { return file.byteSize(); }
    public Map<String, Object> metadata() { return metadata; }
    public Map<String, GgufType> metadataTypes() { return metadataTypes; }

    /** The element type of an array value ({@code ARRAY} for arrays of arrays), or null if {@code key} is not an array. */
    public GgufType arrayElementType(String key) {
        if (metadataTypes.get(key) != GgufType.ARRAY) return null;
        return GgufType.of(file.get(I32, valueSpans.get(key)[0]));
    }

    /** The value's bytes exactly as stored (after its type id), or null if there is no such key. */
    public byte[] rawValue(String key) {
        long[] s = valueSpans.get(key);
        return s == null ? null : file.asSlice(s[0], s[1] - s[0]).toArray(ValueLayout.JAVA_BYTE);
    }
    public Map<String, Tensor> tensors() { return tensors; }

    /** The tensor's offset relative to the data section, as stored in the file. */
    public long tensorOffset(String name) { return tensorOffsets.get(name); }

    public Tensor tensor(String name) { return tensors.get(name); }

    /** The named tensor, or a clear error if the file lacks it. */
    public Tensor require(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new JmoeException(path.toString(), "missing tensor", "tensor " + show(name));
        return t;
    }

    public Object get(String key) { return metadata.get(key); }

    public String getString(String key, String dflt) {
        Object v = metadata.get(key);
        return v instanceof String s ? s : dflt;
    }

    public long getLong(String key, long dflt) {
        Object v = metadata.get(key);
        if (v == null) return dflt;
        if (v instanceof Long l) return l;
        if (v instanceof Boolean b) return b ? 1 : 0;
        throw new JmoeException(path.toString(), "metadata value is not an integer: " + v, "key " + show(key));
    }

    public double getDouble(String key, double dflt) {
        Object v = metadata.get(key);
        if (v == null) return dflt;
        if (v instanceof Float f) return f;
        if (v instanceof Double d) return d;
        if (v instanceof Long l) return l;
        throw new JmoeException(path.toString(), "metadata value is not a number: " + v, "key " + show(key));
    }

    public boolean getBool(String key, boolean dflt) {
        Object v = metadata.get(key);
        if (v == null) return dflt;
        if (v instanceof Boolean b) return b;
        if (v instanceof Long l) return l != 0;
        throw new JmoeException(path.toString(), "metadata value is not a bool: " + v, "key " + show(key));
    }

    @Override
    public void close() {
        arena.close();
    }

    /** A key or tensor name as shown in an error message: control characters escaped, at most 80 characters. */
    static String show(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() < 80; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || Character.isSurrogate(c) || c == '\ufffd') sb.append(String.format("\\x%02x", (int) c & 0xff));
            else sb.append(c);
        }
        if (sb.length() >= 80 && s.length() > 80) sb.append("...");
        return sb.toString();
    }

    /** A bounds-checked little-endian cursor over the header. */
    private static final class Reader {
        final String who;
        final MemorySegment seg;
        final long size;
        long pos;

        Reader(String who, MemorySegment seg, long size) {
            this.who = who;
            this.seg = seg;
            this.size = size;
        }

        void need(long n, String what) {
            if (n < 0 || n > size - pos) {
                throw new JmoeException(who, "truncated header: " + show(what) + " needs " + Long.toUnsignedString(n) + " bytes, " + (size - pos) + " left",
                        "byte offset " + pos);
            }
        }

        int i32() {
            need(4, "a 32-bit value");
            int v = seg.get(I32, pos);
            pos += 4;
            return v;
        }

        long i64() {
            need(8, "a 64-bit value");
            long v = seg.get(I64, pos);
            pos += 8;
            return v;
        }

        String string(String what) {
            long len = i64();
            if (len < 0 || len > size - pos) {
                throw new JmoeException(who, "absurd string length " + Long.toUnsignedString(len) + " in " + what, "byte offset " + (pos - 8));
            }
            byte[] b = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            return new String(b, StandardCharsets.UTF_8);
        }

        Object value(GgufType t, String key, int depth) {
            switch (t) {
                case UINT8: need(1, key); return (long) (seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xff);
                case INT8: need(1, key); return (long) seg.get(ValueLayout.JAVA_BYTE, pos++);
                case UINT16: { need(2, key); long v = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, pos) & 0xffff; pos += 2; return v; }
                case INT16: { need(2, key); long v = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, pos); pos += 2; return v; }
                case UINT32: return i32() & 0xffffffffL;
                case INT32: return (long) i32();
                case UINT64, INT64: return i64();
                case FLOAT32: return Float.intBitsToFloat(i32());
                case FLOAT64: return Double.longBitsToDouble(i64());
                case BOOL: {
                    need(1, key);
                    byte b = seg.get(ValueLayout.JAVA_BYTE, pos++);
                    if (b != 0 && b != 1) throw new JmoeException(who, "bool value " + b + " is neither 0 nor 1", "key " + show(key) + ", byte offset " + (pos - 1));
                    return b != 0;
                }
                case STRING: return string("value of " + show(key));
                case ARRAY: return array(key, depth);
                default: throw new IllegalStateException();
            }
        }

        Object array(String key, int depth) {
            if (depth > 2) throw new JmoeException(who, "arrays nested too deeply", "key " + show(key) + ", byte offset " + pos);
            int typeId = i32();
            GgufType et = GgufType.of(typeId);
            if (et == null) throw new JmoeException(who, "unknown array element type " + typeId, "key " + show(key) + ", byte offset " + (pos - 4));
            long n = i64();
            long minEach = et.size > 0 ? et.size : (et == GgufType.STRING ? 8 : 12);
            if (n < 0 || n > (size - pos) / minEach || n > Integer.MAX_VALUE - 8) {
                throw new JmoeException(who, "absurd array length " + Long.toUnsignedString(n), "key " + show(key) + ", byte offset " + (pos - 8));
            }
            int len = (int) n;
            if (et.isInteger()) {
                long[] a = new long[len];
                for (int i = 0; i < len; i++) a[i] = (Long) value(et, key, depth + 1);
                return a;
            }
            return switch (et) {
                case FLOAT32 -> {
                    float[] a = new float[len];
                    MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT_UNALIGNED, pos, a, 0, len);
                    pos += 4L * len;
                    yield a;
                }
                case FLOAT64 -> {
                    double[] a = new double[len];
                    MemorySegment.copy(seg, ValueLayout.JAVA_DOUBLE_UNALIGNED, pos, a, 0, len);
                    pos += 8L * len;
                    yield a;
                }
                case BOOL -> {
                    boolean[] a = new boolean[len];
                    for (int i = 0; i < len; i++) a[i] = (Boolean) value(et, key, depth + 1);
                    yield a;
                }
                case STRING -> {
                    String[] a = new String[len];
                    String shown = show(key);
                    for (int i = 0; i < len; i++) a[i] = string(shown + "[" + i + "]");
                    yield a;
                }
                default -> {
                    Object[] a = new Object[len];
                    for (int i = 0; i < len; i++) a[i] = value(et, key, depth + 1);
                    yield a;
                }
            };
        }
    }
}
