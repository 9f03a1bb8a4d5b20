package org.jmoe.moe;

/**
 * LocMoE's locality-aware top-1 routing (PAPERS.md §4), for a mesh whose devices are grouped into nodes.
 * <pre>
 *   G_t  = ReLU(z_t)                       z_t the gate's logits W x_t (+ ε when the gate has a bias),
 *                                          or with the GrAP gate z_t,i = mean of the i-th of E equal slices of x_t
 *   p_t  = softmax(G_t)
 *   e_g  = argmax_e p_t,e                  the best expert anywhere
 *   e_l  = argmax_{e on node(t)} p_t,e     the best expert on the token's own node
 *   e*   = e_l if p_t,e_l >= ρ · p_t,e_g, else e_g          (ρ = min_ratio, default 0.5)
 *   w    = p_t,e*
 * </pre>
 * node(t) is the node of the token's home device ({@link Placement#homeNode}). A token keeps to its node
 * unless a remote expert is more than 1/ρ times as likely; ρ = 1 is plain top-1, ρ = 0 always local.
 * Capacity per expert is {@link LocMoECapacity#capacity} (standard ⌈T·c_f/E⌉, never below LocMoE's lower
 * bound at cosine threshold δ in the gate's dimension); tokens go in batch order, a token whose chosen expert is
 * full takes its next-best expert on the same node with room, else it is dropped (counted in the plan).
 */
public final class LocMoERouter implements Router {
    private final String spec;
    private final Placement placement;
    private final double minRatio;
    private final double capacityFactor;
    private final double delta;
    private final boolean grap;
    private float[] p = new float[0], z = new float[0];
    private int[] used = new int[0];

    public LocMoERouter(String spec, Placement placement, double minRatio, double capacityFactor, double delta) {
        this(spec, placement, minRatio, capacityFactor, delta, false);
    }

    /** @param grap use the fixed GrAP gate (slice means of the router input) instead of the model's gate weights */
    public LocMoERouter(String spec, Placement placement, double minRatio, double capacityFactor, double delta, boolean grap) {
        this.grap = grap;
        if (!(minRatio >= 0 && minRatio <= 1)) throw new IllegalArgumentException("min_ratio must be in [0, 1], got " + minRatio);
        if (!(capacityFactor > 0)) throw new IllegalArgumentException("capacity factor must be > 0, got " + capacityFactor);
        if (!(delta >= 0 && delta < 1)) throw new IllegalArgumentException("delta must be in [0, 1), got " + delta);
        this.spec = spec;
        this.placement = placement;
        this.minRatio = minRatio;
        this.capacityFactor = capacityFactor;
        this.delta = delta;
    }

    @Override
    public String spec() { return spec; }

    @Override
    public int maxK(int experts) { return 1; }

    public Placement placement() { return placement; }

    /** Tokens one expert can take in a batch of {@code tokens} with gate dimension {@code dim}. */
    public int capacity(int tokens, int experts, int dim) {
        return LocMoECapacity.capacity(tokens, capacityFactor, experts, delta, dim);
    }

    @Override
    public void route(RouterInput in, RoutingPlan plan) {
        int E = in.experts, T = in.tokens;
        if (placement.experts() != E) throw new IllegalArgumentException("placement is for " + placement.experts() + " experts, the layer has " + E);
        if (p.length < E) { p = new float[E]; used = new int[E]; }
        java.util.Arrays.fill(used, 0, E, 0);
        int cap = capacity(T, E, in.hiddenDim);
        float[] logits = in.logits;
        if (grap) {
            if (in.hiddenDim < E) throw new IllegalArgumentException("the GrAP gate needs hidden >= experts, got " + in.hiddenDim + " < " + E);
            if (z.length < T * E) z = new float[T * E];
            grapLogits(in.hidden, T, in.hiddenDim, E, z);
            logits = z;
        }
        for (int t = 0; t < T; t++) {
            int zo = t * E;
            float max = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < E; e++) max = Math.max(max, Math.max(0f, logits[zo + e]));
            double sum = 0;
            for (int e = 0; e < E; e++) {
                float v = (float) Math.exp(Math.max(0f, logits[zo + e]) - max);
                p[e] = v;
                sum += v;
            }
            float inv = (float) (1 / sum);
            for (int e = 0; e < E; e++) p[e] *= inv;
            int node = placement.homeNode(t, T);
            int global = -1, local = -1;
            for (int e = 0; e < E; e++) {
                if (global < 0 || p[e] > p[global]) global = e;
                if (placement.nodeOfExpert(e) == node && (local < 0 || p[e] > p[local])) local = e;
            }
            int pick = local >= 0 && p[local] >= minRatio * p[global] ? local : global;
            if (used[pick] >= cap) pick = nextLocalWithRoom(node, cap);
            if (pick < 0) { plan.countDropped(1); continue; }
            used[pick]++;
            plan.add(t, pick, p[pick]);
        }
        plan.build();
    }

    /**
     * GrAP gate logits: {@code z[t][i]} = mean of {@code x_t} over slice i of E equal slices
     * ({@code [floor(i·H/E), floor((i+1)·H/E))}) — the gate whose rows are the orthogonal slice indicators / size.
     */
    public static void grapLogits(float[] x, int tokens, int H, int E, float[] z) {
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < E; i++) {
                int a = (int) ((long) i * H / E), b = (int) ((long) (i + 1) * H / E);
                float s = 0;
                for (int j = a; j < b; j++) s += x[t * H + j];
                z[t * E + i] = s / (b - a);
            }
        }
    }

    /** The most likely expert on {@code node} (by the current token's p) that still has room, or −1. */
    private int nextLocalWithRoom(int node, int cap) {
        int best = -1;
        for (int e = 0; e < placement.experts(); e++) {
            if (used[e] < cap && placement.nodeOfExpert(e) == node && (best < 0 || p[e] > p[best])) best = e;
        }
        return best;
    }
}
