package org.jmoe.moe;

/**
 * Switch Transformer routing: top-1 of {@code p = softmax(z)} with weight {@code p_e}, and a capacity of
 * <pre>  C = ⌈T · c_f / E⌉</pre>
 * tokens per expert per batch. Tokens are served in batch order; a token whose expert is full is dropped
 * (it gets no expert: its MoE output is the shared expert alone, or zero, and the residual carries it), and
 * the plan counts it in {@link RoutingPlan#dropped()}.
 */
public final class SwitchRouter implements Router {
    private final String spec;
    private final double capacityFactor;
    private float[] p = new float[0];
    private int[] used = new int[0];

    public SwitchRouter(String spec, double capacityFactor) {
        if (!(capacityFactor > 0)) throw new IllegalArgumentException("capacity factor must be > 0, got " + capacityFactor);
        this.spec = spec;
        this.capacityFactor = capacityFactor;
    }

    @Override
    public String spec() { return spec; }

    @Override
    public int maxK(int experts) { return 1; }

    /** Tokens one expert can take in a batch of {@code tokens}. */
    public int capacity(int tokens, int experts) {
        return LocMoECapacity.standard(tokens, capacityFactor, experts);
    }

    @Override
    public void route(RouterInput in, RoutingPlan plan) {
        int E = in.experts;
        if (p.length < E) { p = new float[E]; used = new int[E]; }
        java.util.Arrays.fill(used, 0, E, 0);
        int cap = capacity(in.tokens, E);
        for (int t = 0; t < in.tokens; t++) {
            Gating.softmax(in.logits, t * E, p, E);
            int best = 0;
            for (int e = 1; e < E; e++) if (p[e] > p[best]) best = e;
            if (used[best] >= cap) { plan.countDropped(1); continue; }
            used[best]++;
            plan.add(t, best, p[best]);
        }
        plan.build();
    }
}
