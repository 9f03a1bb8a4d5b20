package org.jmoe.sim;

/**
 * The time of one operator on one device: {@code max(flops / (sustained FLOP/s · efficiency at its rows), bytes /
 * sustained bytes/s)} plus the launch overhead (the efficiency by rows is 1 unless the profile measured it). GEMMs take weights in the weight dtype (streamed at the profile's weight bandwidth) and
 * activations in the activation dtype; the matrix unit processes rows in tiles of {@link Hardware#mmaTileRows()}, so
 * m rows cost ⌈m/tile⌉·tile rows of compute (the reason tiny per-expert loads are never compute bound).
 */
public final class Roofline {
    /** Grouped GEMM (one launch over all local experts) reaches this share of a dense GEMM's efficiency. */
    public static final double GROUPED_EFFICIENCY = 0.9;

    private final Hardware hw;
    private final SimDtype weights;
    private final SimDtype act;
    private final double flops, actFlops, weightBw, groupedWeightBw, memBw, overhead;

    public Roofline(Hardware hw, SimDtype weights) {
        this.hw = hw;
        this.weights = weights;
        this.act = weights.floatActivations() ? SimDtype.F32 : SimDtype.BF16;
        this.flops = hw.flops(weights);
        this.actFlops = hw.flops(act);
        this.weightBw = hw.weightBytesPerS(weights);
        this.groupedWeightBw = hw.groupedWeightBytesPerS(weights);
        this.memBw = hw.memoryBytesPerS();
        this.overhead = hw.kernelOverheadUs() * 1e-6;
    }

    public Hardware hardware() { return hw; }

    public SimDtype weights() { return weights; }

    /** Activation element size in bytes (bf16, or f32 for f32 weights and the CPU block formats). */
    public double actBytes() { return act.bytes(); }

    /** Rows rounded up to whole matrix-unit tiles. */
    public double tiled(double m) {
        int t = hw.mmaTileRows();
        return m <= 0 ? 0 : Math.ceil(m / t) * t;
    }

    /** y[m×n] = x[m×k] · W[k×n] with W in the weight dtype. */
    public double gemm(double m, double n, double k) {
        if (m <= 0) return 0;
        double c = oneRowOfEngine(m) ? 0 : 2 * tiled(m) * n * k / flops;
        double b = n * k * weights.bytes() / weightBw + (m * k + m * n) * actBytes() / memBw;
        return Math.max(c / rowEfficiency(m), b) + overhead;
    }

    /** An operator on activations only (attention core, elementwise): FLOPs at the activation dtype's rate. */
    public double activations(double flopCount, double bytes) {
        return Math.max(flopCount / actFlops, bytes / memBw) + overhead;
    }

    /** A memory-bound operator over {@code bytes} ({@code launches} kernels). */
    public double memory(double bytes, int launches) {
        return bytes / memBw + launches * overhead;
    }

    /**
     * Elementwise work over {@code bytes} ({@code launches} kernels: norms, a softmax, the combine's weighted sums).
     * An engine's own profile ({@link Hardware#groupedFromActive(SimDtype)} > 0) runs such work inline on the calling
     * thread, handing nothing to its pool, so it pays no operator overhead; elsewhere each kernel is a launch.
     */
    public double elementwise(double bytes, int launches) {
        return bytes / memBw + (hw.groupedFromActive(weights) > 0 ? 0 : launches * overhead);
    }

    /**
     * A SwiGLU expert block on one device: for each expert its rows {@code rows[e]} (0 = inactive), gate+up
     * ({@code 2·ffn} wide) then down, of width {@code ffn} on this device. The faster of two kernels, as EPS-MoE
     * switches them by load: dense (per expert, full efficiency, one launch per GEMM) or grouped (one launch per
     * projection over every active expert, {@value #GROUPED_EFFICIENCY} of the efficiency). A profile of the engine
     * itself ({@link Hardware#groupedFromActive(SimDtype)} > 0) follows the engine's rule for the experts' format instead, its dense kernel running
     * gate, up and down as three products.
     */
    public double experts(long[] rows, double hidden, double ffn) {
        double groupedFrom = hw.groupedFromActive(weights);
        boolean engine = groupedFrom > 0;
        double dense = 0, gFlops = 0, gBytes = 0, act = 0;
        int active = 0;
        for (long r : rows) {
            if (r <= 0) continue;
            active++;
            dense += engine ? 2 * gemm(r, ffn, hidden) + gemm(r, hidden, ffn) : gemm(r, 2 * ffn, hidden) + gemm(r, hidden, ffn);
            gFlops += 2 * tiled(r) * 3 * ffn * hidden;
            gBytes += 3 * ffn * hidden * weights.bytes() / groupedWeightBw + (r * hidden * 2 + r * 3 * ffn) * actBytes() / memBw;
            act += r * 3 * ffn * actBytes();
        }
        if (active == 0) return 0;
        double perActive = rowsPerActive(rows);
        double grouped = Math.max(oneRowOfEngine(perActive) ? 0 : gFlops / (flops * GROUPED_EFFICIENCY) / rowEfficiency(perActive), gBytes) + 2 * overhead;
        double kernel = !engine ? Math.min(dense, grouped) : active >= groupedFrom ? grouped : dense;
        return kernel + memory(act, 1);
    }

    /**
     * The profile's measured compute efficiency at {@code m} rows per product; 1 for one row, which runs the
     * matrix-vector kernels whose speed the weight bandwidth already is (on a CPU the calibration's matrix-vector
     * probes time them, compute included), not the tiles the efficiency was measured on.
     */
    /**
     * One row per product on an engine's own profile: the matrix-vector kernels, whose measured streaming rate
     * already includes their compute; charging tiles of the GEMM rate on top would count it twice (and make decode
     * compute-bound whenever a GEMM probe runs slow).
     */
    private boolean oneRowOfEngine(double m) {
        return m <= 1 && hw.groupedFromActive(weights) > 0;
    }

    private double rowEfficiency(double m) {
        return m <= 1 ? 1 : hw.efficiency(m);
    }

    private static double rowsPerActive(long[] rows) {
        long s = 0;
        int a = 0;
        for (long r : rows) if (r > 0) { s += r; a++; }
        return a == 0 ? 0 : (double) s / a;
    }
}
