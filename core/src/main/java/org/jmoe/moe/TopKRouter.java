package org.jmoe.moe;

/**
 * Top-k routing in the forms llama.cpp's {@code build_moe_ffn} covers, one formula with switches:
 * <pre>
 *   p      = softmax(z)  |  sigmoid(z)  |  z (softmax after top-k)
 *   s      = p + b                      (selection bias b, DeepSeek-V3's e_score_correction_bias; 0 if absent)
 *   groups : keep the topk_groups groups whose score (sum of the group's top-2 s) is largest (if groups > 1)
 *   S      = top-k of s over the kept experts
 *   w_e    = p_e for e in S             (softmax after top-k: w = softmax(z_S))
 *   w     /= sum_S w                   (if renormalised)
 *   w     *= scale
 * </pre>
 * Mixtral, Qwen3-MoE: softmax, renormalised. Qwen2-MoE, OLMoE: softmax, not renormalised. DeepSeek-V3:
 * sigmoid, bias, 8 groups keep 4, renormalised, scale 2.5.
 */
public final class TopKRouter implements Router {
    public enum Scores { SOFTMAX, SIGMOID, SOFTMAX_AFTER_TOPK }

    private final String spec;
    private final Scores scores;
    private final int k;
    private final boolean renormalise;
    private final float scale;
    private final int groups;
    private final int topkGroups;

    public TopKRouter(String spec, Scores scores, int k, boolean renormalise, float scale, int groups, int topkGroups) {
        if (k < 1) throw new IllegalArgumentException("k must be >= 1, got " + k);
        if (groups < 1 || topkGroups < 1 || topkGroups > groups) throw new IllegalArgumentException("need 1 <= topk_groups <= groups, got " + topkGroups + " of " + groups);
        this.spec = spec;
        this.scores = scores;
        this.k = k;
        this.renormalise = renormalise;
        this.scale = scale;
        this.groups = groups;
        this.topkGroups = topkGroups;
    }

    @Override
    public String spec() { return spec; }

    @Override
    public int maxK(int experts) { return Math.min(k, experts); }

    public int k() { return k; }

    @Override
    public void route(RouterInput in, RoutingPlan plan) {
        int E = in.experts;
        if (groups > 1 && E % groups != 0) throw new IllegalArgumentException(E + " experts do not split into " + groups + " groups");
        int kk = Math.min(k, E);
        float[] p = new float[E];
        float[] s = new float[E];
        boolean[] allowed = new boolean[E];
        int[] chosen = new int[kk];
        float[] groupScore = new float[groups];
        boolean[] keep = new boolean[groups];
        float[] expw = new float[kk];
        for (int t = 0; t < in.tokens; t++) {
            int zo = t * E;
            switch (scores) {
                case SOFTMAX -> Gating.softmax(in.logits, zo, p, E);
                case SIGMOID -> { for (int e = 0; e < E; e++) p[e] = Gating.sigmoid(in.logits[zo + e]); }
                case SOFTMAX_AFTER_TOPK -> System.arraycopy(in.logits, zo, p, 0, E);
            }
            for (int e = 0; e < E; e++) s[e] = in.selectionBias != null ? p[e] + in.selectionBias[e] : p[e];
            java.util.Arrays.fill(allowed, true);
            if (groups > 1 && topkGroups < groups) {
                int gsize = E / groups;
                for (int g = 0; g < groups; g++) {
                    float a = Float.NEGATIVE_INFINITY, b = Float.NEGATIVE_INFINITY;
                    for (int e = g * gsize; e < (g + 1) * gsize; e++) {
                        if (s[e] > a) { b = a; a = s[e]; } else if (s[e] > b) b = s[e];
                    }
                    groupScore[g] = gsize > 1 ? a + b : a;
                }
                java.util.Arrays.fill(keep, false);
                for (int i = 0; i < topkGroups; i++) {
                    int best = -1;
                    for (int g = 0; g < groups; g++) if (!keep[g] && (best < 0 || groupScore[g] > groupScore[best])) best = g;
                    keep[best] = true;
                }
                for (int e = 0; e < E; e++) allowed[e] = keep[e / gsize];
            }
            int n = Gating.topK(s, allowed, E, kk, chosen);
            float sum = 0;
            if (scores == Scores.SOFTMAX_AFTER_TOPK) {
                float max = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < n; i++) max = Math.max(max, p[chosen[i]]);
                for (int i = 0; i < n; i++) { expw[i] = (float) Math.exp(p[chosen[i]] - max); sum += expw[i]; }
                for (int i = 0; i < n; i++) plan.add(t, chosen[i], expw[i] / sum * scale);
                continue;
            }
            for (int i = 0; i < n; i++) sum += p[chosen[i]];
            for (int i = 0; i < n; i++) {
                float w = p[chosen[i]];
                if (renormalise) w /= sum;
                plan.add(t, chosen[i], w * scale);
            }
        }
        plan.build();
    }
}
