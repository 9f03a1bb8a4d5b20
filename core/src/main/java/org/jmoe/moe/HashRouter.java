package org.jmoe.moe;

/**
 * Hash routing (Roller et al., "Hash Layers"): token id {@code x} goes to {@code k} distinct experts chosen by
 * a fixed hash, independent of the hidden state:
 * <pre>  e_j = mix(x, j) mod E  (skipping repeats),  j = 0, 1, ...</pre>
 * {@code mix} is SplitMix64's finaliser, so the choice is the same on every run and machine. Weights:
 * {@code router} (default) — the router's softmax probabilities of the hashed experts, renormalised to the sum
 * the model's own top-K would give (keeps the trained output scale); {@code uniform} — 1/k each.
 */
public final class HashRouter implements Router {
    private final String spec;
    private final int k;
    private final boolean uniform;
    private final float defaultSumK;
    private final boolean renormalised;
    private float[] p = new float[0];

    /**
     * @param defaultSumK the model's own top-K (for the weight scale), {@code renormalised} whether its weights
     *                    sum to one
     */
    public HashRouter(String spec, int k, boolean uniform, int defaultSumK, boolean renormalised) {
        if (k < 1) throw new IllegalArgumentException("k must be >= 1, got " + k);
        this.spec = spec;
        this.k = k;
        this.uniform = uniform;
        this.defaultSumK = defaultSumK;
        this.renormalised = renormalised;
    }

    @Override
    public String spec() { return spec; }

    @Override
    public int maxK(int experts) { return Math.min(k, experts); }

    /** SplitMix64 finaliser of {@code (token, j)}. */
    static long mix(long token, int j) {
        long z = token * 0x9E3779B97F4A7C15L + (j + 1) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The experts token id {@code token} is hashed to, in order. */
    public int[] expertsOf(int token, int experts) {
        int kk = Math.min(k, experts);
        int[] out = new int[kk];
        int n = 0;
        for (int j = 0; n < kk; j++) {
            int e = (int) Long.remainderUnsigned(mix(token, j), experts);
            boolean dup = false;
            for (int i = 0; i < n; i++) dup |= out[i] == e;
            if (!dup) out[n++] = e;
        }
        return out;
    }

    @Override
    public void route(RouterInput in, RoutingPlan plan) {
        if (in.tokenIds == null) throw new IllegalArgumentException("hash routing needs the token ids");
        int E = in.experts;
        if (p.length < E) p = new float[E];
        for (int t = 0; t < in.tokens; t++) {
            int[] ex = expertsOf(in.tokenIds[t], E);
            if (uniform) {
                for (int e : ex) plan.add(t, e, 1f / ex.length);
                continue;
            }
            Gating.softmax(in.logits, t * E, p, E);
            float target = 1f;
            if (!renormalised) target = Gating.topSum(p, E, (int) defaultSumK);
            float sum = 0;
            for (int e : ex) sum += p[e];
            for (int e : ex) plan.add(t, e, sum > 0 ? p[e] / sum * target : target / ex.length);
        }
        plan.build();
    }
}
