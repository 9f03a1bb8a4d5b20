package org.jmoe.train;

import org.jmoe.tensor.Parallel;

/** Clipping by global norm: when {@code ‖g‖₂ > max}, every gradient is scaled by {@code max/‖g‖₂}. */
public final class GradClip {
    private GradClip() {}

    /** Elements per partial sum: the sums of squares of fixed chunks are added in chunk order, whatever the threads. */
    private static final int CHUNK = 1 << 14;

    /** The global L2 norm (sums of squares in double). */
    public static double norm(float[] g) {
        return norm(Parallel.SERIAL, g);
    }

    public static double norm(Parallel pool, float[] g) {
        int chunks = (g.length + CHUNK - 1) / CHUNK;
        double[] part = new double[chunks];
        pool.forEach(chunks, (c, worker) -> {
            double s = 0;
            for (int i = c * CHUNK, end = Math.min(g.length, (c + 1) * CHUNK); i < end; i++) s += (double) g[i] * g[i];
            part[c] = s;
        });
        double s = 0;
        for (double x : part) s += x;
        return Math.sqrt(s);
    }

    /** Clips in place; returns the norm before clipping. */
    public static double clip(float[] g, double max) {
        return clip(Parallel.SERIAL, g, max);
    }

    public static double clip(Parallel pool, float[] g, double max) {
        double n = norm(pool, g);
        if (n > max && n > 0) {
            float f = (float) (max / n);
            pool.forEach((g.length + CHUNK - 1) / CHUNK, (c, worker) -> {
                for (int i = c * CHUNK, end = Math.min(g.length, (c + 1) * CHUNK); i < end; i++) g[i] *= f;
            });
        }
        return n;
    }
}
