package org.jmoe.train;

import org.jmoe.moe.LocMoECapacity;

/**
 * Switch Transformer routing for training: top-1 of {@code p = softmax(z)}, weight {@code p_e}, capacity
 * {@code ⌈n·c_f/E⌉} per expert over the step's n rows (rows in batch order; a row whose expert is full is dropped:
 * its MoE output is the shared expert's or zero and the residual carries it), and the load-balancing loss
 * {@code α·E·Σ f·P}. Same decisions as the engine's {@code SwitchRouter}.
 */
final class SwitchTrainRouter implements TrainRouter {
    private final String spec;
    private final int experts;
    private final double cf, alpha;

    SwitchTrainRouter(String spec, int experts, double cf, double alpha) {
        this.spec = spec;
        this.experts = experts;
        this.cf = cf;
        this.alpha = alpha;
    }

    @Override public String spec() { return spec; }

    @Override public String inferenceSpec() { return "switch:cf=" + cf; }

    @Override public int slots() { return 1; }

    @Override
    public void route(float[] logits, int[] tokens, int[] home, int n, Routing out) {
        int E = experts;
        out.reset(n, E, 1);
        int cap = LocMoECapacity.standard(n, cf, E);
        int[] used = new int[E];
        for (int t = 0; t < n; t++) {
            GateMath.softmax(logits, out.scores, t, E);
            int best = 0;
            for (int e = 1; e < E; e++) if (out.scores[t * E + e] > out.scores[t * E + best]) best = e;
            if (used[best] >= cap) continue;
            used[best]++;
            out.expert[t] = best;
            out.weight[t] = out.scores[t * E + best];
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
