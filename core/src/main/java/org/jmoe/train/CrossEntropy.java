package org.jmoe.train;

/**
 * Mean cross-entropy of N rows of logits against their targets, {@code L = −(1/N) Σ log softmax(z_n)[y_n]}, and its
 * gradient {@code dz_n = (softmax(z_n) − onehot(y_n)) / N}. Sums are in double.
 */
final class CrossEntropy {
    private CrossEntropy() {}

    /** Returns the loss; writes the gradient into {@code dlogits} when it is not null. */
    static double lossAndGrad(float[] logits, int[] targets, int n, int v, float[] dlogits) {
        double total = 0;
        for (int t = 0; t < n; t++) {
            int o = t * v;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < v; i++) max = Math.max(max, logits[o + i]);
            double sum = 0;
            for (int i = 0; i < v; i++) sum += Math.exp(logits[o + i] - max);
            double logZ = max + Math.log(sum);
            total += logZ - logits[o + targets[t]];
            if (dlogits != null) {
                for (int i = 0; i < v; i++) dlogits[o + i] = (float) (Math.exp(logits[o + i] - logZ) / n);
                dlogits[o + targets[t]] -= 1f / n;
            }
        }
        return total / n;
    }

    /** Log-probability of each row's target, {@code out[n] = log softmax(z_n)[y_n]}. */
    static void targetLogProbs(float[] logits, int[] targets, int n, int v, double[] out) {
        for (int t = 0; t < n; t++) {
            int o = t * v;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < v; i++) max = Math.max(max, logits[o + i]);
            double sum = 0;
            for (int i = 0; i < v; i++) sum += Math.exp(logits[o + i] - max);
            out[t] = (double) logits[o + targets[t]] - max - Math.log(sum);
        }
    }
}
