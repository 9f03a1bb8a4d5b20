package org.jmoe.train;

import org.jmoe.moe.Gating;
import org.jmoe.moe.Router;
import org.jmoe.moe.RouterInput;
import org.jmoe.moe.RoutingPlan;

import java.util.SplittableRandom;

/**
 * The router of one layer while Ada-K allocators train: the frozen model's scores pick top-k* experts with the
 * engine's Ada-K weight rule ({@code w_e = p_e · Σ_{top-K} p / Σ_{S} p}, 1 instead of the top-K mass for models that
 * renormalise; the engine's {@code AdaKRouter}), and it records each row's router input for the policy update.
 * {@link Mode#DEFAULT} uses k* = K (the model's own routing) and records Ada-K's warm-start pseudo-label, the smallest
 * k whose sorted cumulative probability reaches {@code threshold}; {@link Mode#SAMPLE} draws k* from the allocator
 * {@code softmax(W_alloc x)} with a seed and records k* and its log-probability. A model trained with MoGE routing
 * gives its own router as the {@code reference}: the default pass then routes as the model does (top-K/M in each of
 * M groups) and the sampled pass picks the top-k* experts of the global softmax with the same weight rule, as the
 * engine's {@code adak:allocators=FILE} router does on such a model.
 */
final class SampledKRouter implements Router {
    enum Mode { DEFAULT, SAMPLE }

    private final AllocatorPolicy policy;
    private final int layer, defaultK;
    private final boolean sigmoid, renormalised;
    private final float scale;
    private final double threshold;
    private final Router reference;
    Mode mode = Mode.DEFAULT;
    SplittableRandom random;
    /** Rows routed since the last {@link #clear}: input rows (hidden each), k*, log π(k*), pseudo-labels. */
    float[] xs = new float[0];
    int[] ks = new int[0], labels = new int[0];
    double[] logps = new double[0];
    int rows;
    private int hidden;

    SampledKRouter(AllocatorPolicy policy, int layer, int defaultK, boolean sigmoid, boolean renormalised, float scale, double threshold,
                   Router reference) {
        this.reference = reference;
        this.policy = policy;
        this.layer = layer;
        this.defaultK = defaultK;
        this.sigmoid = sigmoid;
        this.renormalised = renormalised;
        this.scale = scale;
        this.threshold = threshold;
    }

    void clear() { rows = 0; }

    @Override public String spec() { return "adak-training"; }

    @Override public int maxK(int experts) { return experts; }

    @Override
    public void route(RouterInput in, RoutingPlan plan) {
        int E = in.experts, H = in.hiddenDim;
        hidden = H;
        ensure(rows + in.tokens, H);
        float[] p = new float[E], s = new float[E], a = new float[E], sorted = new float[E];
        int[] chosen = new int[E];
        for (int t = 0; t < in.tokens; t++) {
            if (sigmoid) for (int e = 0; e < E; e++) p[e] = Gating.sigmoid(in.logits[t * E + e]);
            else Gating.softmax(in.logits, t * E, p, E);
            for (int e = 0; e < E; e++) s[e] = in.selectionBias != null ? p[e] + in.selectionBias[e] : p[e];
            int r = rows++;
            System.arraycopy(in.hidden, t * H, xs, r * H, H);
            int k;
            if (mode == Mode.SAMPLE) {
                policy.probs(layer, in.hidden, t * H, a);
                double u = random.nextDouble(), c = 0;
                k = E;
                for (int n = 0; n < E; n++) {
                    c += a[n];
                    if (u < c) { k = n + 1; break; }
                }
                logps[r] = Math.log(Math.max(a[k - 1], 1e-30));
            } else {
                k = defaultK;
                System.arraycopy(p, 0, sorted, 0, E);
                java.util.Arrays.sort(sorted);
                double total = 0, sum = 0;
                for (float v : sorted) total += v;
                int label = E;
                for (int n = 1; n <= E; n++) {
                    sum += sorted[E - n];
                    if (sum >= threshold * total) { label = n; break; }
                }
                labels[r] = label;
            }
            ks[r] = k;
            if (mode == Mode.DEFAULT && reference != null) continue;
            float target = renormalised ? 1f : Gating.topSum(p, E, defaultK);
            int n = Gating.topK(s, null, E, k, chosen);
            float sum = 0;
            for (int i = 0; i < n; i++) sum += p[chosen[i]];
            for (int i = 0; i < n; i++) plan.add(t, chosen[i], (sum > 0 ? p[chosen[i]] / sum * target : target / n) * scale);
        }
        if (mode == Mode.DEFAULT && reference != null) reference.route(in, plan);
        else plan.build();
    }

    private void ensure(int n, int H) {
        if (ks.length >= n) return;
        int cap = Math.max(n, ks.length * 2);
        xs = java.util.Arrays.copyOf(xs, cap * H);
        ks = java.util.Arrays.copyOf(ks, cap);
        labels = java.util.Arrays.copyOf(labels, cap);
        logps = java.util.Arrays.copyOf(logps, cap);
    }

    int hidden() { return hidden; }
}
