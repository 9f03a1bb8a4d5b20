package org.jmoe.model;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits, in llama.cpp's order: repetition penalty → top-k → top-p → min-p →
 * temperature → draw. Temperature 0 is greedy (argmax, ties to the lower id). Seeded: the same seed, logits and
 * history give the same token.
 */
public final class Sampler {
    /** Sampling settings; defaults are greedy. */
    public record Options(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed) {
        public static Options greedy() { return new Options(0f, 0, 1f, 0f, 1f, 64, 0); }

        public Options {
            if (temperature < 0 || Float.isNaN(temperature)) throw new IllegalArgumentException("temp must be >= 0, got " + temperature);
            if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
            if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
            if (!(minP >= 0 && minP < 1)) throw new IllegalArgumentException("min-p must be in [0, 1), got " + minP);
            if (!(repeatPenalty > 0)) throw new IllegalArgumentException("repeat-penalty must be > 0, got " + repeatPenalty);
            if (repeatLastN < 0) throw new IllegalArgumentException("repeat-last-n must be >= 0, got " + repeatLastN);
        }
    }

    private final Options o;
    private final SplittableRandom rng;
    private float[] val = new float[0];

    /**
     * The {@code n} ids with the largest values, largest first, ties to the lower id: a bounded insertion
     * scan when {@code n} is small, else one sort of packed (value, id) keys. No boxing.
     */
    static int[] candidates(float[] v, int V, int n) {
        if (n < V && n <= 256) {
            int[] ids = new int[n];
            int size = 0;
            for (int i = 0; i < V; i++) {
                float x = v[i];
                if (size == n && !(x > v[ids[n - 1]])) continue;
                int j = size < n ? size++ : n - 1;
                while (j > 0 && x > v[ids[j - 1]]) { ids[j] = ids[j - 1]; j--; }
                ids[j] = i;
            }
            return ids;
        }
        long[] keys = new long[V];
        for (int i = 0; i < V; i++) {
            int bits = Float.floatToIntBits(v[i]);
            int sortable = bits ^ ((bits >> 31) & 0x7fffffff); // monotonic in the float value
            keys[i] = ((long) ~sortable << 32) | i;              // ascending key = descending value, then id
        }
        java.util.Arrays.sort(keys);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = (int) keys[i];
        return ids;
    }

    public Sampler(Options o) {
        this.o = o;
        this.rng = new SplittableRandom(o.seed());
    }

    /** Samples from {@code logits[off..off+V)} given the tokens so far (for the repetition penalty); logits are not modified. */
    public int sample(float[] logits, int off, int V, int[] history, int historyLen) {
        if (val.length < V) val = new float[V];
        System.arraycopy(logits, off, val, 0, V);
        if (o.repeatPenalty() != 1f && o.repeatLastN() > 0) {
            boolean[] seen = new boolean[V];
            for (int i = Math.max(0, historyLen - o.repeatLastN()); i < historyLen; i++) {
                int t = history[i];
                if (t < 0 || t >= V || seen[t]) continue;
                seen[t] = true;
                val[t] = val[t] > 0 ? val[t] / o.repeatPenalty() : val[t] * o.repeatPenalty();
            }
        }
        if (o.temperature() == 0f) {
            int best = 0;
            for (int i = 1; i < V; i++) if (val[i] > val[best]) best = i;
            return best;
        }
        int n = o.topK() > 0 ? Math.min(o.topK(), V) : V;
        int[] order = candidates(val, V, n);
        float[] v = val;
        // Probabilities of the kept candidates at temperature 1 for top-p / min-p, as llama.cpp's samplers do.
        double max = v[order[0]];
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) { p[i] = Math.exp(v[order[i]] - max); sum += p[i]; }
        if (o.topP() < 1f) {
            double cum = 0;
            int keep = n;
            for (int i = 0; i < n; i++) {
                cum += p[i] / sum;
                if (cum >= o.topP()) { keep = i + 1; break; }
            }
            n = keep;
        }
        if (o.minP() > 0f) {
            double thr = o.minP() * p[0];
            int keep = 1;
            while (keep < n && p[keep] >= thr) keep++;
            n = keep;
        }
        double[] q = new double[n];
        double qs = 0;
        for (int i = 0; i < n; i++) { q[i] = Math.exp((v[order[i]] - max) / o.temperature()); qs += q[i]; }
        double r = rng.nextDouble() * qs;
        for (int i = 0; i < n; i++) {
            r -= q[i];
            if (r < 0) return order[i];
        }
        return order[n - 1];
    }
}
