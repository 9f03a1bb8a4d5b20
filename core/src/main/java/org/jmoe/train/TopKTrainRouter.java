package org.jmoe.train;

/**
 * Softmax top-k with a Switch-style load-balancing loss: {@code p = softmax(z)}, the k largest, weights {@code p_e}
 * (renormalised over the k when {@code norm}). The gate's gradient flows through the selected probabilities:
 * <pre>
 *   not renormalised: ∂L/∂p_e = ∂L/∂w_e for e selected, 0 otherwise
 *   renormalised (w = p/Z, Z = Σ_S p): ∂L/∂p_e = (∂L/∂w_e − Σ_S w·∂L/∂w) / Z
 *   ∂L/∂z = p ⊙ (∂L/∂p − Σ p·∂L/∂p)
 * </pre>
 * plus the aux loss {@code α·E·Σ f·P} ({@link GateMath#balanceLoss}).
 */
final class TopKTrainRouter implements TrainRouter {
    private final String spec;
    private final int experts, k;
    private final boolean norm;
    private final double alpha;

    TopKTrainRouter(String spec, int experts, int k, boolean norm, double alpha) {
        this.spec = spec;
        this.experts = experts;
        this.k = k;
        this.norm = norm;
        this.alpha = alpha;
    }

    @Override public String spec() { return spec; }

    @Override public String inferenceSpec() { return "topk:k=" + k + ":norm=" + norm + ":scores=softmax"; }

    @Override public int slots() { return k; }

    @Override
    public void route(float[] logits, int[] tokens, int[] home, int n, Routing out) {
        int E = experts;
        out.reset(n, E, k);
        int[] chosen = new int[k];
        for (int t = 0; t < n; t++) {
            GateMath.softmax(logits, out.scores, t, E);
            int m = GateMath.topK(out.scores, t * E, E, null, k, chosen);
            double z = 0;
            for (int i = 0; i < m; i++) z += out.scores[t * E + chosen[i]];
            for (int i = 0; i < m; i++) {
                out.expert[t * k + i] = chosen[i];
                float p = out.scores[t * E + chosen[i]];
                out.weight[t * k + i] = norm ? (float) (p / z) : p;
            }
        }
        out.auxLoss = GateMath.balanceLoss(out, alpha, null);
    }

    @Override
    public void backward(Routing r, float[] logits, float[] dweight, float[] dlogits) {
        int E = experts, n = r.n;
        float[] dp = new float[n * E];
        GateMath.balanceLoss(r, alpha, dp);
        selectedBackward(r, dweight, dp, norm);
        float[] row = new float[E];
        for (int t = 0; t < n; t++) {
            System.arraycopy(dp, t * E, row, 0, E);
            GateMath.softmaxBackward(r.scores, row, dlogits, t, E);
        }
    }

    /** Adds to dp (n × E) the gradient of the weights with respect to the selected scores (see the class comment). */
    static void selectedBackward(Routing r, float[] dweight, float[] dp, boolean norm) {
        int E = r.experts, k = r.k;
        for (int t = 0; t < r.n; t++) {
            if (!norm) {
                for (int s = 0; s < k; s++) {
                    int e = r.expert[t * k + s];
                    if (e >= 0) dp[t * E + e] += dweight[t * k + s];
                }
                continue;
            }
            double z = 0, dot = 0;
            for (int s = 0; s < k; s++) {
                int e = r.expert[t * k + s];
                if (e < 0) continue;
                z += r.scores[t * E + e];
                dot += (double) r.weight[t * k + s] * dweight[t * k + s];
            }
            for (int s = 0; s < k; s++) {
                int e = r.expert[t * k + s];
                if (e >= 0) dp[t * E + e] += (float) ((dweight[t * k + s] - dot) / z);
            }
        }
    }
}
