package org.jmoe.train;

/** Token embedding lookup {@code x[n] = E[token[n]]}; backward scatters {@code dx[n]} into {@code dE[token[n]]}. */
final class Embedding {
    private Embedding() {}

    static void forward(float[] x, float[] table, int to, int[] tokens, int n, int d) {
        for (int t = 0; t < n; t++) System.arraycopy(table, to + tokens[t] * d, x, t * d, d);
    }

    static void backward(float[] dtable, int to, float[] dx, int[] tokens, int n, int d) {
        for (int t = 0; t < n; t++) {
            int r = to + tokens[t] * d;
            for (int i = 0; i < d; i++) dtable[r + i] += dx[t * d + i];
        }
    }
}
