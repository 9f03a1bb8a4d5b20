package org.jmoe.sim;

/**
 * Where each part of a plan puts its ranks: pipeline stage s holds devices {@code [s·S, (s+1)·S)} (S devices per
 * stage); inside a stage a part's rank (dp index i, ep index j, tp index k) is device
 * {@code s·S + (i·ep + j)·tp + k} — tp innermost, so tensor-parallel groups sit on neighbouring devices (same card,
 * same group, same node first).
 */
public record Layout(Plan.Part part, int stageDevices) {

    private int device(int stage, int dp, int ep, int tp) {
        return stage * stageDevices + (dp * part.ep() + ep) * part.tp() + tp;
    }

    /** The tensor-parallel group of replica (dp, ep) in a stage. */
    public int[] tpGroup(int stage, int dp, int ep) {
        int[] g = new int[part.tp()];
        for (int k = 0; k < g.length; k++) g[k] = device(stage, dp, ep, k);
        return g;
    }

    /** The data-parallel group of rank (ep, tp) in a stage. */
    public int[] dpGroup(int stage, int ep, int tp) {
        int[] g = new int[part.dp()];
        for (int i = 0; i < g.length; i++) g[i] = device(stage, i, ep, tp);
        return g;
    }

    /** Every device of data-parallel replica {@code dp} (its ep x tp ranks) in a stage. */
    public int[] replica(int stage, int dp) {
        int[] g = new int[part.ep() * part.tp()];
        for (int j = 0; j < part.ep(); j++) for (int k = 0; k < part.tp(); k++) g[j * part.tp() + k] = device(stage, dp, j, k);
        return g;
    }

    /** The devices of expert-parallel rank {@code ep} (its tp group) in replica dp. */
    public int[] rank(int stage, int dp, int ep) { return tpGroup(stage, dp, ep); }
}
