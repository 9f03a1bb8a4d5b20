package org.jmoe.parallel;

import org.jmoe.JmoeException;

/**
 * How many chunks the EPS schedule cuts a batch into. Pipelining N chunks hides all but C/N of the shorter of
 * communication and compute (C = min(comm, compute)) and costs N·k of per-chunk overhead (a message's latency,
 * a fork/join), so the step time C/N + N·k is least at N* = √(C/k) (EPS-MoE, PAPERS.md §2).
 *
 * <p>Auto mode measures C as it goes: after each layer it updates running per-token estimates of the critical
 * device's communication and compute time, and sizes the next batch from them; the first call, with nothing
 * measured yet, runs one chunk. k comes from {@code jmoe calibrate} (per-chunk overhead plus, across JVMs, one
 * message latency). A fixed count ({@code --chunks N}) is used as given, capped at the batch's tokens.
 */
public final class ChunkPlanner {
    /** The most chunks auto mode picks (beyond this the chunks are too thin to keep the GEMMs efficient). */
    public static final int MAX_AUTO = 32;
    private static final double SMOOTHING = 0.3;

    private final int fixed;
    private final double overheadNs;
    private double commPerToken = -1, computePerToken = -1;
    private int last = 1, lastBatch = 1;

    private ChunkPlanner(int fixed, double overheadNs) {
        this.fixed = fixed;
        this.overheadNs = overheadNs;
    }

    /** Always {@code n} chunks. */
    public static ChunkPlanner fixed(int n) {
        if (n < 1) throw new JmoeException("--chunks", "must be >= 1 or auto, got " + n);
        return new ChunkPlanner(n, 0);
    }

    /** N* = √(C/k) from measured C, with per-chunk overhead {@code overheadUs} (k). */
    public static ChunkPlanner auto(double overheadUs) {
        if (!(overheadUs > 0)) throw new JmoeException("calibration", "EPS chunk overhead must be > 0 us, got " + overheadUs);
        return new ChunkPlanner(0, overheadUs * 1e3);
    }

    /** {@code auto} or a positive count. */
    public static ChunkPlanner parse(String spec, double overheadUs) {
        if (spec.equals("auto")) return auto(overheadUs);
        try {
            return fixed(Integer.parseInt(spec));
        } catch (NumberFormatException e) {
            throw new JmoeException("--chunks", "'" + spec + "' is not a chunk count or auto");
        }
    }

    public boolean isAuto() { return fixed == 0; }

    /** The cost model's optimum for overlappable time {@code cNs} and per-chunk overhead {@code kNs}, in [1, max]. */
    public static int optimal(double cNs, double kNs, int max) {
        if (!(cNs > 0) || !(kNs > 0)) return 1;
        long n = Math.round(Math.sqrt(cNs / kNs));
        return (int) Math.max(1, Math.min(max, n));
    }

    /** Chunks for a batch of {@code tokens}. */
    public synchronized int chunks(int tokens) {
        int cap = Math.max(1, tokens);
        if (fixed > 0) last = Math.min(fixed, cap);
        else if (commPerToken < 0) last = 1;
        else last = optimal(tokens * Math.min(commPerToken, computePerToken), overheadNs, Math.min(cap, MAX_AUTO));
        if (tokens > 1) lastBatch = last;
        return last;
    }

    /** The count used for the last batch of more than one token (a prefill), 1 before any. */
    public synchronized int lastBatchChunks() { return lastBatch; }

    /** The count the last {@link #chunks} call returned. */
    public synchronized int lastChunks() { return last; }

    /** Records a layer: its tokens and the critical device's communication and compute time. */
    public synchronized void observe(int tokens, long commNs, long computeNs) {
        if (tokens <= 0) return;
        double c = (double) commNs / tokens, x = (double) computeNs / tokens;
        if (commPerToken < 0) {
            commPerToken = c;
            computePerToken = x;
        } else {
            commPerToken += SMOOTHING * (c - commPerToken);
            computePerToken += SMOOTHING * (x - computePerToken);
        }
    }
}
