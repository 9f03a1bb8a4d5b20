package org.jmoe.train;

import org.jmoe.moe.LocMoECapacity;
import org.jmoe.moe.LocMoERouter;
import org.jmoe.moe.Placement;

/**
 * LocMoE for training (PAPERS.md §4) over a simulated mesh of D devices in G nodes: gate logits z (the GrAP gate:
 * slice means of x, fixed; or the learned {@code W x}), {@code p = softmax(ReLU(z))}, top-1 preferring the best
 * expert on the row's node unless a remote one is more than 1/ρ as likely, weight {@code p_e}, capacity
 * {@link LocMoECapacity#capacity} (never below LocMoE's lower bound), overflow to the next local expert with room,
 * else dropped — the decisions of the engine's {@link LocMoERouter}. Losses:
 * <pre>
 *   L_aux = α·E·Σ_e f_e P_e                                   (α = 0.01)
 *   L_loc = μ · Σ_g (n_g/n) · KL(D_l^g ‖ D_c^g)                 (μ = 0.01)
 *   D_c^g(e) = mean router probability of expert e over the rows on node g
 *   D_l^g    = the fully local assignment: uniform over node g's experts, 0 elsewhere
 * </pre>
 * The paper writes KL(D_c ‖ D_l) without defining D_l exactly; with the fully local D_l, that direction is infinite
 * as soon as any probability leaves the node, so jmoe uses KL(D_l ‖ D_c), finite and minimised exactly when every
 * node's rows put their probability on that node's experts, evenly. Its gradient:
 * {@code ∂L_loc/∂p_{t,e} = −μ / (n · m · D_c^g(e))} for e on the row's node g (m experts per node), 0 elsewhere.
 */
final class LocMoETrainRouter implements TrainRouter {
    private final String spec;
    private final Placement placement;
    private final double minRatio, cf, delta, alpha, mu;
    private final boolean grap;
    private final int hidden;

    LocMoETrainRouter(String spec, Placement placement, int hidden, double minRatio, double cf, double delta, boolean grap, double alpha, double mu) {
        this.spec = spec;
        this.placement = placement;
        this.hidden = hidden;
        this.minRatio = minRatio;
        this.cf = cf;
        this.delta = delta;
        this.grap = grap;
        this.alpha = alpha;
        this.mu = mu;
    }

    @Override public String spec() { return spec; }

    @Override
    public String inferenceSpec() {
        return "locmoe:devices=" + placement.devices() + ":nodes=" + placement.nodes() + ":min_ratio=" + minRatio + ":cf=" + cf
                + ":delta=" + delta + ":gate=" + (grap ? "grap" : "learned");
    }

    @Override public int slots() { return 1; }

    @Override public boolean learnedGate() { return !grap; }

    @Override
    public boolean ownLogits(float[] x, int n, int h, float[] logits) {
        if (!grap) return false;
        LocMoERouter.grapLogits(x, n, h, placement.experts(), logits);
        return true;
    }

    @Override
    public void ownLogitsBackward(float[] dlogits, int n, int h, float[] dx) {
        int E = placement.experts();
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < E; i++) {
                int a = (int) ((long) i * h / E), b = (int) ((long) (i + 1) * h / E);
                float g = dlogits[t * E + i] / (b - a);
                for (int j = a; j < b; j++) dx[t * h + j] += g;
            }
        }
    }

    @Override
    public void route(float[] logits, int[] tokens, int[] home, int n, Routing out) {
        int E = placement.experts();
        out.reset(n, E, 1);
        int cap = LocMoECapacity.capacity(n, cf, E, delta, hidden);
        int[] used = new int[E];
        float[] relu = new float[n * E];
        for (int i = 0; i < n * E; i++) relu[i] = Math.max(0f, logits[i]);
        for (int t = 0; t < n; t++) {
            GateMath.softmax(relu, out.scores, t, E);
            int o = t * E, node = home[t];
            int global = -1, local = -1;
            for (int e = 0; e < E; e++) {
                float p = out.scores[o + e];
                if (global < 0 || p > out.scores[o + global]) global = e;
                if (placement.nodeOfExpert(e) == node && (local < 0 || p > out.scores[o + local])) local = e;
            }
            int pick = local >= 0 && out.scores[o + local] >= minRatio * out.scores[o + global] ? local : global;
            if (used[pick] >= cap) {
                pick = -1;
                for (int e = 0; e < E; e++) {
                    if (used[e] < cap && placement.nodeOfExpert(e) == node && (pick < 0 || out.scores[o + e] > out.scores[o + pick])) pick = e;
                }
            }
            if (pick < 0) continue;
            used[pick]++;
            out.expert[t] = pick;
            out.weight[t] = out.scores[o + pick];
        }
        out.auxLoss = GateMath.balanceLoss(out, alpha, null);
        lastHome = java.util.Arrays.copyOf(home, n);
        out.locLoss = localityLoss(out, lastHome, null);
    }

    /** L_loc (class comment); adds ∂L_loc/∂p to dp when it is not null. */
    double localityLoss(Routing r, int[] home, float[] dp) {
        if (mu == 0) return 0;
        int E = r.experts, G = placement.nodes(), n = r.n;
        int m = E / G;
        double[][] dc = new double[G][E];
        int[] rows = new int[G];
        for (int t = 0; t < n; t++) {
            rows[home[t]]++;
            for (int e = 0; e < E; e++) dc[home[t]][e] += r.scores[t * E + e];
        }
        double loss = 0;
        for (int g = 0; g < G; g++) {
            if (rows[g] == 0) continue;
            double kl = 0;
            for (int e = 0; e < E; e++) {
                dc[g][e] /= rows[g];
                if (placement.nodeOfExpert(e) == g) kl += (1.0 / m) * Math.log((1.0 / m) / Math.max(dc[g][e], 1e-30));
            }
            loss += (double) rows[g] / n * kl;
        }
        if (dp != null) {
            for (int t = 0; t < n; t++) {
                int g = home[t];
                for (int e = 0; e < E; e++) {
                    if (placement.nodeOfExpert(e) == g) dp[t * E + e] += (float) (-mu / (n * m * Math.max(dc[g][e], 1e-30)));
                }
            }
        }
        return mu * loss;
    }

    /** The rows' nodes of the last {@link #route}, for the locality loss's gradient. */
    private int[] lastHome = new int[0];

    @Override
    public void backward(Routing r, float[] logits, float[] dweight, float[] dlogits) {
        int E = r.experts, n = r.n;
        float[] dp = new float[n * E];
        GateMath.balanceLoss(r, alpha, dp);
        localityLoss(r, lastHome, dp);
        TopKTrainRouter.selectedBackward(r, dweight, dp, false);
        float[] row = new float[E], drelu = new float[n * E];
        for (int t = 0; t < n; t++) {
            System.arraycopy(dp, t * E, row, 0, E);
            GateMath.softmaxBackward(r.scores, row, drelu, t, E);
        }
        // ReLU: the gradient passes where the logit was positive.
        for (int i = 0; i < n * E; i++) if (logits[i] > 0) dlogits[i] += drelu[i];
    }
}
