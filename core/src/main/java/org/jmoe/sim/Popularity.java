package org.jmoe.sim;

import org.jmoe.JmoeException;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * How often the router wants each expert, before its selection rule: {@code uniform}, or {@code zipf:S} — expert of
 * popularity rank r (1-based) wanted in proportion to 1/r^S, the ranks shuffled over the experts per layer with a
 * seeded permutation (hot experts land anywhere, not all on the first device).
 */
public record Popularity(String text, double zipfS) {

    public static Popularity parse(String s) {
        if (s == null || s.isBlank() || s.strip().equalsIgnoreCase("uniform")) return new Popularity("uniform", 0);
        String t = s.strip().toLowerCase(Locale.ROOT);
        if (t.startsWith("zipf")) {
            double v = 1.0;
            if (t.startsWith("zipf:")) {
                try {
                    v = Double.parseDouble(t.substring(5));
                } catch (NumberFormatException e) {
                    throw new JmoeException("--popularity", "bad Zipf exponent in '" + s + "' (expected zipf:S, S >= 0)");
                }
            } else if (!t.equals("zipf")) {
                throw new JmoeException("--popularity", "unknown popularity '" + s + "' (uniform or zipf:S)");
            }
            if (!(v >= 0) || v > 10) throw new JmoeException("--popularity", "Zipf exponent must be in [0, 10], got " + v);
            return new Popularity("zipf:" + v, v);
        }
        throw new JmoeException("--popularity", "unknown popularity '" + s + "' (uniform or zipf:S)");
    }

    /** Probabilities over {@code experts} for one layer (sum 1). */
    public double[] probabilities(int experts, long seed) {
        double[] p = new double[experts];
        if (zipfS == 0) {
            java.util.Arrays.fill(p, 1.0 / experts);
            return p;
        }
        int[] perm = new int[experts];
        for (int i = 0; i < experts; i++) perm[i] = i;
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = experts - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        double sum = 0;
        for (int rank = 0; rank < experts; rank++) {
            double w = Math.pow(rank + 1, -zipfS);
            p[perm[rank]] = w;
            sum += w;
        }
        for (int i = 0; i < experts; i++) p[i] /= sum;
        return p;
    }
}
