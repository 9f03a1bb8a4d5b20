package org.jmoe.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A minimal GGUF metadata reader for tests: the key/value section only, values as the tokenizer factory
 * expects them (integers Long, float32 Float, float64 Double, bool Boolean, string String; arrays String[],
 * long[] for every integer type, float[], double[], boolean[]).
 */
final class MiniGguf {
    private MiniGguf() {}

    static Map<String, Object> metadata(Path file) throws IOException {
        ByteBuffer b;
        try (FileChannel ch = FileChannel.open(file)) {
            b = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
        }
        if (b.getInt() != 0x46554747) throw new IOException("not a GGUF file");
        int version = b.getInt();
        if (version < 2) throw new IOException("GGUF version " + version);
        b.getLong(); // tensor count
        long kv = b.getLong();
        Map<String, Object> meta = new LinkedHashMap<>();
        for (long i = 0; i < kv; i++) {
            String key = string(b);
            meta.put(key, value(b, b.getInt()));
        }
        return meta;
    }

    private static String string(ByteBuffer b) {
        byte[] s = new byte[Math.toIntExact(b.getLong())];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static boolean isInteger(int type) {
        return type <= 5 || type == 10 || type == 11;
    }

    private static long integer(ByteBuffer b, int type) {
        return switch (type) {
            case 0 -> b.get() & 0xff;
            case 1 -> b.get();
            case 2 -> b.getShort() & 0xffff;
            case 3 -> b.getShort();
            case 4 -> b.getInt() & 0xffffffffL;
            case 5 -> b.getInt();
            case 10, 11 -> b.getLong();
            default -> throw new IllegalArgumentException("type " + type);
        };
    }

    private static Object value(ByteBuffer b, int type) {
        if (isInteger(type)) return integer(b, type);
        return switch (type) {
            case 6 -> b.getFloat();
            case 7 -> b.get() != 0;
            case 8 -> string(b);
            case 12 -> b.getDouble();
            case 9 -> {
                int et = b.getInt();
                int n = Math.toIntExact(b.getLong());
                if (isInteger(et)) {
                    long[] a = new long[n];
                    for (int i = 0; i < n; i++) a[i] = integer(b, et);
                    yield a;
                }
                switch (et) {
                    case 6 -> { float[] a = new float[n]; for (int i = 0; i < n; i++) a[i] = b.getFloat(); yield a; }
                    case 12 -> { double[] a = new double[n]; for (int i = 0; i < n; i++) a[i] = b.getDouble(); yield a; }
                    case 7 -> { boolean[] a = new boolean[n]; for (int i = 0; i < n; i++) a[i] = b.get() != 0; yield a; }
                    case 8 -> { String[] a = new String[n]; for (int i = 0; i < n; i++) a[i] = string(b); yield a; }
                    default -> throw new IllegalArgumentException("array of type " + et);
                }
            }
            default -> throw new IllegalArgumentException("type " + type);
        };
    }
}
