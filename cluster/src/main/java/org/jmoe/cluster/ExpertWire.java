package org.jmoe.cluster;

import org.jmoe.JmoeException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The messages between a coordinator and an expert worker, little-endian:
 * <pre>
 *   request  = "JMRQ" u32 version=1, layer i32, hidden i32, groups i32, groups × (expert i32, rows i32),
 *              rows × hidden f32  (rows grouped by expert, in group order)
 *   response = "JMRS" u32 version=1, rows i32, hidden i32, computeNanos i64, rows × hidden f32
 *   info     = "JMIN" u32 version=1, layers i32, hidden i32, experts i32, expertFfn i32, vocab i32,
 *              served i32, served × expert i32, nameLength i32, name UTF-8
 * </pre>
 * Every count is checked against the bytes present before anything is sized from it.
 */
public final class ExpertWire {
    static final int REQ = 0x51524D4A, RES = 0x53524D4A, INF = 0x4E494D4A; // "JMRQ", "JMRS", "JMIN" little-endian
    static final int VERSION = 1;

    private ExpertWire() {}

    /** A decoded request: experts and their row counts, and the rows. */
    public record Request(int layer, int hidden, int[] experts, int[] rows, float[] x) {
        public int totalRows() { return x.length / hidden; }
    }

    /** A decoded response. */
    public record Response(int rows, int hidden, long computeNanos, float[] y) { }

    /** Model facts a worker reports, to check it serves the coordinator's model. */
    public record Info(int layers, int hidden, int experts, int expertFfn, int vocab, int[] served, String name) { }

    public static byte[] request(int layer, int hidden, int[] experts, int[] rows, float[] x, int xOff, int nRows) {
        ByteBuffer b = ByteBuffer.allocate(20 + 8 * experts.length + 4 * nRows * hidden).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(REQ).putInt(VERSION).putInt(layer).putInt(hidden).putInt(experts.length);
        for (int i = 0; i < experts.length; i++) b.putInt(experts[i]).putInt(rows[i]);
        b.asFloatBuffer().put(x, xOff, nRows * hidden);
        return b.array();
    }

    public static Request parseRequest(byte[] m) {
        ByteBuffer b = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        header(b, REQ, "request");
        int layer = b.getInt(), hidden = b.getInt(), groups = b.getInt();
        if (hidden < 1 || hidden > (1 << 20)) throw bad("request", "hidden size " + hidden);
        if (groups < 0 || groups > b.remaining() / 8) throw bad("request", "group count " + groups + " for " + b.remaining() + " bytes");
        int[] experts = new int[groups], rows = new int[groups];
        long total = 0;
        for (int i = 0; i < groups; i++) {
            experts[i] = b.getInt();
            rows[i] = b.getInt();
            if (rows[i] < 0) throw bad("request", "negative row count in group " + i);
            total += rows[i];
        }
        if (total * hidden * 4 != b.remaining()) throw bad("request", total + " rows of " + hidden + " floats announced, " + b.remaining() + " bytes present");
        float[] x = new float[(int) (total * hidden)];
        b.asFloatBuffer().get(x);
        return new Request(layer, hidden, experts, rows, x);
    }

    public static byte[] response(int hidden, float[] y, int rows, long computeNanos) {
        ByteBuffer b = ByteBuffer.allocate(24 + 4 * rows * hidden).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(RES).putInt(VERSION).putInt(rows).putInt(hidden).putLong(computeNanos);
        b.asFloatBuffer().put(y, 0, rows * hidden);
        return b.array();
    }

    public static Response parseResponse(byte[] m) {
        ByteBuffer b = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        header(b, RES, "response");
        if (b.remaining() < 16) throw bad("response", "truncated: " + b.remaining() + " bytes after the header");
        int rows = b.getInt(), hidden = b.getInt();
        long ns = b.getLong();
        if (rows < 0 || hidden < 1 || (long) rows * hidden * 4 != b.remaining()) throw bad("response", rows + " rows of " + hidden + " floats announced, " + b.remaining() + " bytes present");
        float[] y = new float[rows * hidden];
        b.asFloatBuffer().get(y);
        return new Response(rows, hidden, ns, y);
    }

    public static byte[] info(Info i) {
        byte[] name = i.name().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(36 + 4 * i.served().length + name.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(INF).putInt(VERSION).putInt(i.layers()).putInt(i.hidden()).putInt(i.experts()).putInt(i.expertFfn()).putInt(i.vocab());
        b.putInt(i.served().length);
        for (int e : i.served()) b.putInt(e);
        b.putInt(name.length).put(name);
        return b.array();
    }

    public static Info parseInfo(byte[] m) {
        ByteBuffer b = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        header(b, INF, "info");
        if (b.remaining() < 24) throw bad("info", "truncated");
        int layers = b.getInt(), hidden = b.getInt(), experts = b.getInt(), ffn = b.getInt(), vocab = b.getInt(), n = b.getInt();
        if (n < 0 || n > b.remaining() / 4) throw bad("info", "served count " + n);
        int[] served = new int[n];
        for (int i = 0; i < n; i++) served[i] = b.getInt();
        if (b.remaining() < 4) throw bad("info", "truncated");
        int len = b.getInt();
        if (len < 0 || len != b.remaining()) throw bad("info", "name length " + len);
        byte[] name = new byte[len];
        b.get(name);
        return new Info(layers, hidden, experts, ffn, vocab, served, new String(name, java.nio.charset.StandardCharsets.UTF_8));
    }

    private static void header(ByteBuffer b, int magic, String what) {
        if (b.remaining() < 8) throw bad(what, "truncated: " + b.remaining() + " bytes");
        int m = b.getInt(), v = b.getInt();
        if (m != magic) throw bad(what, String.format("bad magic 0x%08x", m));
        if (v != VERSION) throw bad(what, "unsupported version " + v);
        if (b.remaining() < 12 && magic != INF) throw bad(what, "truncated");
    }

    private static JmoeException bad(String what, String detail) {
        return new JmoeException("expert " + what, "malformed message: " + detail);
    }
}
