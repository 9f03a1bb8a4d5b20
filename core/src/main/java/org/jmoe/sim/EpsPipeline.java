package org.jmoe.sim;

/**
 * The schedule of one MoE block on one device, as an event simulation over two resources: the link (dispatch and
 * combine) and the compute unit (the shared expert, then the routed experts chunk by chunk).
 *
 * <p>Serial: dispatch, shared expert, experts, combine, one after the other. EPS (EPS-MoE): the tokens in N chunks;
 * chunk i's experts start when its dispatch is done and the compute unit is free; the link sends every dispatch
 * in order and then each combine as soon as its chunk is computed, so chunk i's communication overlaps chunk i−1's
 * compute; the shared expert runs first, under the first dispatch. Each chunk's times are computed for the chunk's
 * own rows (so smaller chunks pay latency and tile waste again), and each chunk adds the per-chunk overhead.
 */
public final class EpsPipeline {
    private EpsPipeline() {}

    /** The block's makespan and how much of its work overlapped. */
    public record Result(double seconds, double overlapped) { }

    public static Result serial(double dispatch, double shared, double experts, double combine) {
        return new Result(dispatch + shared + experts + combine, 0);
    }

    /**
     * @param dispatch per-chunk dispatch time, chunk by chunk
     * @param experts  per-chunk expert compute time
     * @param combine  per-chunk combine time
     * @param shared   the shared expert (whole batch)
     * @param chunkOverhead added to each chunk's compute
     */
    public static Result eps(double[] dispatch, double[] experts, double[] combine, double shared, double chunkOverhead) {
        int n = dispatch.length;
        double link = 0, compute = shared, work = shared;
        double[] computed = new double[n];
        for (int i = 0; i < n; i++) {
            link += dispatch[i];
            double start = Math.max(link, compute);
            compute = start + experts[i] + chunkOverhead;
            computed[i] = compute;
            work += dispatch[i] + experts[i] + chunkOverhead + combine[i];
        }
        for (int i = 0; i < n; i++) link = Math.max(link, computed[i]) + combine[i];
        return new Result(link, Math.max(0, work - link));
    }

    /** EPS-MoE's N* = √(C/k): C the smaller of communication and compute, k the per-chunk overhead; at least 1. */
    public static int optimalChunks(double comm, double compute, double chunkOverhead, long maxChunks) {
        if (chunkOverhead <= 0) return (int) Math.max(1, Math.min(16, maxChunks));
        double c = Math.min(comm, compute);
        int n = (int) Math.round(Math.sqrt(c / chunkOverhead));
        return (int) Math.max(1, Math.min(Math.min(64, maxChunks), n));
    }
}
