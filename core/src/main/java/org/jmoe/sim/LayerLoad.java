package org.jmoe.sim;

/**
 * One MoE layer's routing of a batch on one expert-parallel replica: rows (token→expert computations) kept per
 * expert, rows dropped by capacity, the mean experts per token, and where the kept rows travel from their token's
 * home device — the share at each {@link Level} (SELF: the expert is on the home device).
 */
public record LayerLoad(long tokens, long[] expertRows, long dropped, double meanK, double[] levelShare) {

    /** Rows kept in all. */
    public long rows() {
        long s = 0;
        for (long r : expertRows) s += r;
        return s;
    }

    /** Rows per expert-parallel rank ({@code expertRank[e]} the rank of expert e). */
    public long[] rankRows(int[] expertRank, int ranks) {
        long[] out = new long[ranks];
        for (int e = 0; e < expertRows.length; e++) out[expertRank[e]] += expertRows[e];
        return out;
    }

    /** max/mean of the rank rows (1 when balanced). */
    public double maxOverMean(int[] expertRank, int ranks) {
        return org.jmoe.moe.BatchLoad.maxOverMean(rankRows(expertRank, ranks));
    }

    /** MoGE's Imbalance Score over ranks: (max − min) / tokens. */
    public double imbalanceScore(int[] expertRank, int ranks) {
        return org.jmoe.moe.BatchLoad.imbalance(rankRows(expertRank, ranks), tokens);
    }
}
