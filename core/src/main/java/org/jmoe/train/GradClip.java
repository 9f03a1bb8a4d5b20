package org.jmoe.train;

/** Clipping by global norm: when {@code ‖g‖₂ > max}, every gradient is scaled by {@code max/‖g‖₂}. */
public final class GradClip {
    private GradClip() {}

    /** The global L2 norm (sum of squares in double). */
    public static double norm(float[] g) {
        double s = 0;
        for (float x : g) s += (double) x * x;
        return Math.sqrt(s);
    }

    /** Clips in place; returns the norm before clipping. */
    public static double clip(float[] g, double max) {
        double n = norm(g);
        if (n > max && n > 0) {
            float f = (float) (max / n);
            for (int i = 0; i < g.length; i++) g[i] *= f;
        }
        return n;
    }
}
