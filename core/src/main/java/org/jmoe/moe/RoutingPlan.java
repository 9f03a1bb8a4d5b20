package org.jmoe.moe;

import java.util.Arrays;

/**
 * The routing decision for one layer and one batch, built once and shared by execution, telemetry and
 * traces. Per token: up to {@code maxK} (expert, weight) slots, slot {@code s} of token {@code t} at index
 * {@code t * maxK + s}; {@link #k(int)} of them are used (Ada-K varies k per token; dropped tokens have fewer).
 * Per expert, after {@link #build()}: the slots it serves, in token order.
 */
public final class RoutingPlan {
    private int tokens;
    private int experts;
    private int maxK;
    private int[] k = new int[0];
    private int[] expert = new int[0];
    private float[] weight = new float[0];
    private int[] expertStart = new int[1];
    private int[] expertSlots = new int[0];
    private int[] rowStart = new int[1];
    private int dropped;

    /** Clears the plan for {@code tokens} tokens over {@code experts} experts with at most {@code maxK} each. */
    public RoutingPlan reset(int tokens, int experts, int maxK) {
        this.tokens = tokens;
        this.experts = experts;
        this.maxK = maxK;
        int slots = tokens * maxK;
        if (k.length < tokens) k = new int[tokens];
        if (expert.length < slots) {
            expert = new int[slots];
            weight = new float[slots];
            expertSlots = new int[slots];
        }
        if (expertStart.length < experts + 1) expertStart = new int[experts + 1];
        Arrays.fill(k, 0, tokens, 0);
        dropped = 0;
        return this;
    }

    /** Appends expert {@code e} with weight {@code w} to token {@code t}'s slots. */
    public void add(int t, int e, float w) {
        int s = k[t];
        if (s >= maxK) throw new IllegalStateException("token " + t + " already has " + maxK + " experts");
        if (e < 0 || e >= experts) throw new IllegalArgumentException("expert " + e + " out of range 0.." + (experts - 1));
        expert[t * maxK + s] = e;
        weight[t * maxK + s] = w;
        k[t] = s + 1;
    }

    /** Records that a token→expert assignment was dropped (capacity exceeded). */
    public void countDropped(int n) { dropped += n; }

    /** Groups slots by expert (counting sort, stable in token order). Call after the router has added every slot. */
    public void build() {
        Arrays.fill(expertStart, 0, experts + 1, 0);
        for (int t = 0; t < tokens; t++) {
            for (int s = 0; s < k[t]; s++) expertStart[expert[t * maxK + s] + 1]++;
        }
        for (int e = 0; e < experts; e++) expertStart[e + 1] += expertStart[e];
        if (rowStart.length < tokens + 1) rowStart = new int[tokens + 1];
        rowStart[0] = 0;
        for (int t = 0; t < tokens; t++) rowStart[t + 1] = rowStart[t] + k[t];
        int[] fill = Arrays.copyOf(expertStart, experts);
        for (int t = 0; t < tokens; t++) {
            for (int s = 0; s < k[t]; s++) {
                int slot = t * maxK + s;
                expertSlots[fill[expert[slot]]++] = slot;
            }
        }
    }

    public int tokens() { return tokens; }
    public int experts() { return experts; }
    public int maxK() { return maxK; }
    public int k(int t) { return k[t]; }
    public int expert(int t, int s) { return expert[t * maxK + s]; }
    public float weight(int t, int s) { return weight[t * maxK + s]; }
    public void setWeight(int t, int s, float w) { weight[t * maxK + s] = w; }
    public int dropped() { return dropped; }

    /** Tokens routed to expert {@code e} (valid after {@link #build()}). */
    public int load(int e) { return expertStart[e + 1] - expertStart[e]; }

    /** The {@code i}-th slot served by expert {@code e}; its token is {@code slot / maxK()}. */
    public int slotOf(int e, int i) { return expertSlots[expertStart[e] + i]; }

    /**
     * The compact output row of slot {@code s} of token {@code t}: rows are numbered token by token, slot by slot,
     * 0..{@link #assignments()}−1, so expert outputs need {@code assignments × hidden} floats, not
     * {@code tokens × maxK × hidden} (valid after {@link #build()}).
     */
    public int row(int t, int s) { return rowStart[t] + s; }

    /** {@link #row(int, int)} of a slot id ({@code t * maxK + s}). */
    public int rowOfSlot(int slot) { return rowStart[slot / maxK] + slot % maxK; }

    /** Sum of k over tokens: the token→expert computations of this batch. */
    public int assignments() {
        int n = 0;
        for (int t = 0; t < tokens; t++) n += k[t];
        return n;
    }
}
