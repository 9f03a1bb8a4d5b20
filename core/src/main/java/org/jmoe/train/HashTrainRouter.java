package org.jmoe.train;

import org.jmoe.moe.HashRouter;

/**
 * Hash routing for training: token id → k fixed experts by the engine's {@link HashRouter} hash, weights 1/k. The
 * routing has no parameters, so the gate gets no gradient (it is not used).
 */
final class HashTrainRouter implements TrainRouter {
    private final String spec;
    private final int experts, k;
    private final HashRouter hash;

    HashTrainRouter(String spec, int experts, int k) {
        this.spec = spec;
        this.experts = experts;
        this.k = Math.min(k, experts);
        this.hash = new HashRouter(spec, this.k, true, this.k, true);
    }

    @Override public String spec() { return spec; }

    @Override public String inferenceSpec() { return "hash:k=" + k + ":weights=uniform"; }

    @Override public int slots() { return k; }

    @Override public boolean learnedGate() { return false; }

    @Override
    public boolean ownLogits(float[] x, int n, int hidden, float[] logits) {
        java.util.Arrays.fill(logits, 0, n * experts, 0f);
        return true;
    }

    @Override
    public void route(float[] logits, int[] tokens, int[] home, int n, Routing out) {
        out.reset(n, experts, k);
        for (int t = 0; t < n; t++) {
            int[] ex = hash.expertsOf(tokens[t], experts);
            for (int i = 0; i < ex.length; i++) {
                out.expert[t * k + i] = ex[i];
                out.weight[t * k + i] = 1f / ex.length;
            }
        }
    }

    @Override
    public void backward(Routing r, float[] logits, float[] dweight, float[] dlogits) { }
}
