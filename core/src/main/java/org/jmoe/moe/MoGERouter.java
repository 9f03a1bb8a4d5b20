package org.jmoe.moe;

/**
 * Mixture of Grouped Experts (Pangu Pro MoE): experts split into M contiguous groups of N/M; scores are a
 * softmax over all N experts; each group keeps its top K' = K/M; the kept weights are the global softmax
 * probabilities, <b>not</b> renormalised, times the learned {@code router_scale[e]} when the model has one:
 * <pre>  w_e = softmax(z)_e * router_scale[e]  for e in top-K'(group(e)),  0 otherwise</pre>
 * Every group, hence every device holding one, serves exactly K'·T token→expert computations per batch:
 * the Imbalance Score is 0 by construction.
 */
public final class MoGERouter implements Router {
    private final String spec;
    private final int groups;
    private final int perGroup;

    public MoGERouter(String spec, int groups, int perGroup) {
        if (groups < 1 || perGroup < 1) throw new IllegalArgumentException("MoGE needs groups >= 1 and k per group >= 1");
        this.spec = spec;
        this.groups = groups;
        this.perGroup = perGroup;
    }

    @Override
    public String spec() { return spec; }

    public int groups() { return groups; }

    @Override
    public int maxK(int experts) { return groups * perGroup; }

    @Override
    public void route(RouterInput in, RoutingPlan plan) {
        int E = in.experts;
        if (E % groups != 0) throw new IllegalArgumentException(E + " experts do not split into " + groups + " groups");
        int gsize = E / groups;
        if (perGroup > gsize) throw new IllegalArgumentException("top-" + perGroup + " per group exceeds the group size " + gsize);
        float[] p = new float[E];
        float[] g = new float[gsize];
        int[] chosen = new int[perGroup];
        for (int t = 0; t < in.tokens; t++) {
            Gating.softmax(in.logits, t * E, p, E);
            for (int j = 0; j < groups; j++) {
                System.arraycopy(p, j * gsize, g, 0, gsize);
                int n = Gating.topK(g, null, gsize, perGroup, chosen);
                for (int i = 0; i < n; i++) {
                    int e = j * gsize + chosen[i];
                    float w = p[e];
                    if (in.routerScale != null) w *= in.routerScale[e];
                    plan.add(t, e, w);
                }
            }
        }
        plan.build();
    }
}
