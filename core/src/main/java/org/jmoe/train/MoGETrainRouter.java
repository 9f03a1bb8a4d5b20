package org.jmoe.train;

/**
 * MoGE for training (PAPERS.md §1): {@code S = softmax(z)} over all E experts (global softmax), the top K' = K/M in
 * each of M contiguous groups (group j on device j), weights {@code S_e} not renormalised; every group serves
 * exactly K'·n rows, so the Imbalance Score over the M devices is 0 at every step. Aux loss
 * {@code ℓ = α Σ_i f_i p_i} with {@code f_i = E/(K|B|) Σ_t 1{t selects i}}, {@code p_i = (1/|B|) Σ_t S_{i,t}}
 * ({@link GateMath#balanceLoss}: the same quantity), α = 0.001 by default (the released config's).
 */
final class MoGETrainRouter implements TrainRouter {
    private final String spec;
    private final int experts, groups, perGroup;
    private final double alpha;

    MoGETrainRouter(String spec, int experts, int groups, int k, double alpha) {
        if (experts % groups != 0 || k % groups != 0) throw new IllegalArgumentException("MoGE needs groups dividing experts and k");
        this.spec = spec;
        this.experts = experts;
        this.groups = groups;
        this.perGroup = k / groups;
        this.alpha = alpha;
    }

    @Override public String spec() { return spec; }

    @Override public String inferenceSpec() { return "moge:groups=" + groups + ":k=" + groups * perGroup; }

    @Override public int slots() { return groups * perGroup; }

    @Override
    public void route(float[] logits, int[] tokens, int[] home, int n, Routing out) {
        int E = experts, k = slots(), gsize = E / groups;
        out.reset(n, E, k);
        int[] chosen = new int[perGroup];
        for (int t = 0; t < n; t++) {
            GateMath.softmax(logits, out.scores, t, E);
            int s = 0;
            for (int j = 0; j < groups; j++) {
                int m = GateMath.topK(out.scores, t * E + j * gsize, gsize, null, perGroup, chosen);
                for (int i = 0; i < m; i++) {
                    int e = j * gsize + chosen[i];
                    out.expert[t * k + s] = e;
                    out.weight[t * k + s] = out.scores[t * E + e];
                    s++;
                }
            }
        }
        out.auxLoss = GateMath.balanceLoss(out, alpha, null);
    }

    @Override
    public void backward(Routing r, float[] logits, float[] dweight, float[] dlogits) {
        int E = experts;
        float[] dp = new float[r.n * E];
        GateMath.balanceLoss(r, alpha, dp);
        TopKTrainRouter.selectedBackward(r, dweight, dp, false);
        float[] row = new float[E];
        for (int t = 0; t < r.n; t++) {
            System.arraycopy(dp, t * E, row, 0, E);
            GateMath.softmaxBackward(r.scores, row, dlogits, t, E);
        }
    }
}
