package org.jmoe.train;

/**
 * One MoE layer's routing decision for N rows during training: per token {@code k} slots of (expert, weight), an
 * expert of −1 for an empty or dropped slot, and the router's scores the weights came from (kept for the
 * backward pass and the auxiliary losses).
 */
public final class Routing {
    public int n, experts, k;
    public int[] expert = new int[0];
    public float[] weight = new float[0];
    /** Router scores, n × experts (softmax or the router's own), or unused by routers without scores. */
    public float[] scores = new float[0];
    /** Auxiliary loss terms of this decision (already weighted by their coefficients), for the log. */
    public double auxLoss, locLoss;

    void reset(int n, int experts, int k) {
        this.n = n;
        this.experts = experts;
        this.k = k;
        if (expert.length < n * k) {
            expert = new int[n * k];
            weight = new float[n * k];
        }
        if (scores.length < n * experts) scores = new float[n * experts];
        java.util.Arrays.fill(expert, 0, n * k, -1);
        java.util.Arrays.fill(weight, 0, n * k, 0f);
        auxLoss = locLoss = 0;
    }

    /** Token→expert computations each expert received. */
    public int[] loads() {
        int[] c = new int[experts];
        for (int i = 0; i < n * k; i++) if (expert[i] >= 0) c[expert[i]]++;
        return c;
    }

    /** Slots that a capacity limit dropped or left empty. */
    public int assignments() {
        int a = 0;
        for (int i = 0; i < n * k; i++) if (expert[i] >= 0) a++;
        return a;
    }
}
