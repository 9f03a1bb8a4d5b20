package org.jmoe.moe;

/**
 * LocMoE's expert capacity (PAPERS.md §4). The standard capacity of an expert for a batch of {@code T}
 * tokens over {@code ep} expert-parallel devices holding {@code n} experts each is
 * <pre>  ec = ⌈T · c_f / (ep · n)⌉</pre>
 * and LocMoE shows it must not fall below a lower bound: with token directions uniform on the unit sphere of
 * R^d and a token belonging to an expert when the cosine to the expert's gate vector is at least δ, an
 * expert must be able to take the fraction
 * <pre>  ec_min = 1 / (N · [1 − I_{δ²}(½, (d−1)/2)])</pre>
 * of the batch, N the number of experts and I the regularised incomplete beta function.
 * {@code 1 − I_{δ²}(½, (d−1)/2)} is the probability that |cos θ| ≥ δ for a uniform direction (on S² it is
 * {@code 1 − δ}). jmoe applies the bound in tokens: {@code capacity = max(ec, ⌈T · ec_min⌉)}, at most T.
 */
public final class LocMoECapacity {
    private LocMoECapacity() {}

    /** Probability that a uniform direction in R^d has |cos θ| ≥ δ to a fixed axis: 1 − I_{δ²}(½, (d−1)/2). */
    public static double capProbability(double delta, int dim) {
        if (dim < 2) throw new IllegalArgumentException("dimension must be >= 2, got " + dim);
        if (!(delta >= 0 && delta < 1)) throw new IllegalArgumentException("delta must be in [0, 1), got " + delta);
        return 1 - SpecialFunctions.regularizedIncompleteBeta(delta * delta, 0.5, (dim - 1) / 2.0);
    }

    /** The lower bound on an expert's share of the batch: 1 / (N · (1 − I_{δ²}(½, (d−1)/2))). */
    public static double minFraction(int experts, double delta, int dim) {
        if (experts < 1) throw new IllegalArgumentException("experts must be >= 1, got " + experts);
        return 1.0 / (experts * capProbability(delta, dim));
    }

    /** Standard capacity ⌈T · c_f / E⌉ (E = ep · n, all experts). */
    public static int standard(int tokens, double capacityFactor, int experts) {
        return (int) Math.min(tokens, Math.ceil(tokens * capacityFactor / experts));
    }

    /** {@code max(standard, ⌈T · ec_min⌉)}, at most T and at least 1 when there are tokens. */
    public static int capacity(int tokens, double capacityFactor, int experts, double delta, int dim) {
        if (tokens == 0) return 0;
        double bound = Math.ceil(tokens * minFraction(experts, delta, dim) - 1e-9);
        long c = Math.max(standard(tokens, capacityFactor, experts), (long) Math.min(tokens, bound));
        return (int) Math.max(1, Math.min(tokens, c));
    }
}
