package org.jmoe.moe;

import java.util.SplittableRandom;

/**
 * Ada-K routing (PAPERS.md §3): a per-layer allocator decides how many experts each token uses, and the model's
 * frozen router picks which.
 * <pre>
 *   P_alloc = softmax(W_alloc · x)   over n = 1..N         (x: the router's input row)
 *   k*      = argmax_n P_alloc(n)     (or sampled from P_alloc with a seed)
 *   S       = top-k* of the frozen router's selection scores (softmax or sigmoid of z, plus the selection bias)
 *   w_e     = p_e · Σ_{top-K} p / Σ_{e∈S} p      for e in S
 * </pre>
 * The weights are renormalised over the chosen experts to the sum the model's own top-K gives: 1 for models
 * that renormalise (Mixtral, Qwen3-MoE — exactly the paper's rule), the top-K mass for models that do not
 * (Qwen2-MoE, OLMoE), so the trained output scale is kept. Shared experts stay on.
 *
 * <p>Without an allocator file, {@code threshold=p} uses Ada-K's warm-start pseudo-label as the policy: k* is the
 * smallest k whose sorted cumulative router probability reaches p.
 *
 * <p><b>On MoGE models</b> (M groups, K' = K/M per group), k* is rounded up to whole rounds of groups: every group
 * gives its top ⌈k* / M⌉ experts (by the global softmax), so each token still sends the same number of computations
 * to every group and the Imbalance Score stays 0 for every batch. The weights (global softmax × router_scale)
 * are rescaled to the sum MoGE's own top-K' per group gives. The price: with K' = 1 (Pangu Pro MoE) Ada-K can keep
 * or raise k but never lower it. {@code balance=false} drops the grouping (plain top-k* over all experts, same
 * weight rule) and with it the balance guarantee.
 */
public final class AdaKRouter implements Router {
    /** How the frozen router scores experts. */
    public enum Scores { SOFTMAX, SIGMOID }

    private final String spec;
    private final AdaKAllocators allocators;
    private final double threshold;
    private final SplittableRandom random;
    private final Scores scores;
    private final int defaultK;
    private final boolean renormalised;
    private final float scale;
    private final int groups;
    private final boolean balance;
    private float[] p = new float[0], s = new float[0], a = new float[0], sorted = new float[0];
    private int[] chosen = new int[0];

    /**
     * @param allocators per-layer allocators, or null to use {@code threshold}
     * @param seed       sample k* from P_alloc with this seed; null for argmax
     * @param groups     MoGE groups M of the model (1 when it is not MoGE)
     */
    public AdaKRouter(String spec, AdaKAllocators allocators, double threshold, Long seed, Scores scores,
                      int defaultK, boolean renormalised, float scale, int groups, boolean balance) {
        if (allocators == null && !(threshold > 0 && threshold <= 1)) throw new IllegalArgumentException("Ada-K needs allocators or a threshold in (0, 1], got " + threshold);
        if (defaultK < 1) throw new IllegalArgumentException("default k must be >= 1");
        if (groups < 1) throw new IllegalArgumentException("groups must be >= 1");
        this.spec = spec;
        this.allocators = allocators;
        this.threshold = threshold;
        this.random = seed == null ? null : new SplittableRandom(seed);
        this.scores = scores;
        this.defaultK = defaultK;
        this.renormalised = renormalised;
        this.scale = scale;
        this.groups = groups;
        this.balance = balance;
    }

    @Override
    public String spec() { return spec; }

    @Override
    public int maxK(int experts) { return experts; }

    /** k* for one token from its router input row and scores (exposed for tests). */
    int allocate(RouterInput in, int t, float[] probs) {
        int E = in.experts;
        if (allocators == null) {
            if (sorted.length < E) sorted = new float[E];
            System.arraycopy(probs, 0, sorted, 0, E);
            java.util.Arrays.sort(sorted, 0, E);
            double sum = 0, total = 0;
            for (int e = 0; e < E; e++) total += sorted[e];
            for (int k = 1; k <= E; k++) {
                sum += sorted[E - k];
                if (sum >= threshold * total) return k;
            }
            return E;
        }
        float[] w = allocators.layer(in.layer);
        if (w == null) throw new IllegalArgumentException("no Ada-K allocator for layer " + in.layer);
        if (allocators.experts() != E || allocators.hidden() != in.hiddenDim) {
            throw new IllegalArgumentException("allocators are for " + allocators.experts() + " experts x " + allocators.hidden() + " hidden, the layer has " + E + " x " + in.hiddenDim);
        }
        if (a.length < E) a = new float[E];
        int H = in.hiddenDim, xo = t * H;
        for (int n = 0; n < E; n++) {
            float acc = 0;
            for (int i = 0; i < H; i++) acc += w[n * H + i] * in.hidden[xo + i];
            a[n] = acc;
        }
        if (random == null) {
            int best = 0;
            for (int n = 1; n < E; n++) if (a[n] > a[best]) best = n;
            return best + 1;
        }
        Gating.softmax(a, 0, a, E);
        double u = random.nextDouble(), c = 0;
        for (int n = 0; n < E; n++) {
            c += a[n];
            if (u < c) return n + 1;
        }
        return E;
    }

    @Override
    public void route(RouterInput in, RoutingPlan plan) {
        int E = in.experts;
        if (p.length < E) { p = new float[E]; s = new float[E]; chosen = new int[E]; }
        if (E % groups != 0) throw new IllegalArgumentException(E + " experts do not split into " + groups + " groups");
        int gsize = E / groups;
        int perGroup = Math.max(1, defaultK / groups);
        for (int t = 0; t < in.tokens; t++) {
            int zo = t * E;
            if (scores == Scores.SOFTMAX) Gating.softmax(in.logits, zo, p, E);
            else for (int e = 0; e < E; e++) p[e] = Gating.sigmoid(in.logits[zo + e]);
            for (int e = 0; e < E; e++) s[e] = in.selectionBias != null ? p[e] + in.selectionBias[e] : p[e];
            int kStar = Math.max(1, Math.min(E, allocate(in, t, p)));
            int n;
            float target;
            if (groups > 1) {
                // MoGE: the model's own weights are p·router_scale over top-K' per group, not renormalised.
                target = groupedSum(in, perGroup, gsize);
                if (balance) {
                    int per = Math.min(gsize, (kStar + groups - 1) / groups);
                    n = pickPerGroup(per, gsize);
                } else {
                    n = Gating.topK(s, null, E, kStar, chosen);
                }
            } else {
                target = renormalised ? 1f : Gating.topSum(p, E, defaultK);
                n = Gating.topK(s, null, E, kStar, chosen);
            }
            float sum = 0;
            for (int i = 0; i < n; i++) sum += weightOf(in, chosen[i]);
            for (int i = 0; i < n; i++) {
                float w = sum > 0 ? weightOf(in, chosen[i]) / sum * target : target / n;
                plan.add(t, chosen[i], w * scale);
            }
        }
        plan.build();
    }

    private float weightOf(RouterInput in, int e) {
        return in.routerScale != null ? p[e] * in.routerScale[e] : p[e];
    }

    /** Sum of MoGE's own weights for the current token: top-{@code per} of each group, times router_scale. */
    private float groupedSum(RouterInput in, int per, int gsize) {
        int n = pickPerGroup(per, gsize);
        float sum = 0;
        for (int i = 0; i < n; i++) sum += weightOf(in, chosen[i]);
        return sum;
    }

    /** Fills {@code chosen} with the top-{@code per} experts (by s) of every group; returns the count. */
    private int pickPerGroup(int per, int gsize) {
        int n = 0;
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < per; i++) {
                int best = -1;
                for (int e = g * gsize; e < (g + 1) * gsize; e++) {
                    boolean taken = false;
                    for (int j = n - i; j < n; j++) taken |= chosen[j] == e;
                    if (!taken && (best < 0 || s[e] > s[best])) best = e;
                }
                chosen[n++] = best;
            }
        }
        return n;
    }
}
