package org.jmoe.train;

/**
 * DeepSeek-V3-style routing with aux-loss-free balancing: {@code p = sigmoid(z)}, top-k of {@code p + b} (the
 * selection bias b picks experts, it does not weight them), weights {@code p_e / Σ_S p} (renormalised). After
 * every optimizer step each expert's bias moves by γ towards balance: {@code b_e += γ·sign(mean load − load_e)}
 * (γ = 1e-3). No auxiliary loss. The gate's gradient: {@code ∂L/∂z = ∂L/∂p ⊙ p(1 − p)}, ∂L/∂p from the
 * renormalised weights ({@link TopKTrainRouter#selectedBackward}). With {@code aux_free=false} the bias stays 0.
 */
final class AuxFreeTrainRouter implements TrainRouter {
    private final String spec;
    private final int experts, k;
    private final boolean update;
    private final double gamma;
    private final float[][] bias;

    AuxFreeTrainRouter(String spec, int layers, int experts, int k, boolean update, double gamma) {
        this.spec = spec;
        this.experts = experts;
        this.k = k;
        this.update = update;
        this.gamma = gamma;
        this.bias = new float[layers][experts];
    }

    /** A view of this router for one layer (the bias is per layer). */
    TrainRouter layer(int l) {
        AuxFreeTrainRouter self = this;
        return new TrainRouter() {
            @Override public String spec() { return spec; }
            @Override public String inferenceSpec() { return self.inferenceSpec(); }
            @Override public int slots() { return k; }
            @Override public void route(float[] logits, int[] tokens, int[] home, int n, Routing out) { self.route(l, logits, n, out); }
            @Override public void backward(Routing r, float[] logits, float[] dweight, float[] dlogits) { self.backward(r, dweight, dlogits); }
            @Override public void afterStep(int layer, Routing r) { self.afterStep(l, r); }
            @Override public float[] state(int layer) { return bias[l]; }
        };
    }

    @Override public String spec() { return spec; }

    @Override public String inferenceSpec() { return "deepseek:groups=1:topk_groups=1:k=" + k + ":scores=sigmoid:norm=true"; }

    @Override public int slots() { return k; }

    @Override
    public void route(float[] logits, int[] tokens, int[] home, int n, Routing out) { route(0, logits, n, out); }

    void route(int l, float[] logits, int n, Routing out) {
        int E = experts;
        out.reset(n, E, k);
        float[] s = new float[E];
        int[] chosen = new int[k];
        for (int t = 0; t < n; t++) {
            for (int e = 0; e < E; e++) {
                float p = SwiGlu.sigmoid(logits[t * E + e]);
                out.scores[t * E + e] = p;
                s[e] = p + bias[l][e];
            }
            int m = GateMath.topK(s, 0, E, null, k, chosen);
            double z = 0;
            for (int i = 0; i < m; i++) z += out.scores[t * E + chosen[i]];
            for (int i = 0; i < m; i++) {
                out.expert[t * k + i] = chosen[i];
                out.weight[t * k + i] = (float) (out.scores[t * E + chosen[i]] / z);
            }
        }
    }

    @Override
    public void backward(Routing r, float[] logits, float[] dweight, float[] dlogits) { backward(r, dweight, dlogits); }

    void backward(Routing r, float[] dweight, float[] dlogits) {
        int E = experts;
        float[] dp = new float[r.n * E];
        TopKTrainRouter.selectedBackward(r, dweight, dp, true);
        for (int i = 0; i < r.n * E; i++) {
            float p = r.scores[i];
            dlogits[i] += dp[i] * p * (1 - p);
        }
    }

    @Override
    public void afterStep(int l, Routing r) {
        if (!update) return;
        int[] loads = r.loads();
        double mean = 0;
        for (int c : loads) mean += c;
        mean /= experts;
        for (int e = 0; e < experts; e++) bias[l][e] += (float) (gamma * Math.signum(mean - loads[e]));
    }

    @Override
    public float[] state(int l) { return bias[l]; }
}
