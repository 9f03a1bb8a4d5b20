package org.jmoe.train;

/**
 * RoPE as Hugging Face checkpoints apply it (NEOX pairing: x[i] with x[i + d/2]), angle {@code p · θ^(−2i/d)},
 * the angles in double as the inference pass computes them. The backward pass rotates by the opposite angle.
 */
final class RotaryEmbedding {
    private final int headDim;
    private final float[] cos, sin;

    /** Tables for positions 0..maxLen−1. */
    RotaryEmbedding(int headDim, double theta, int maxLen) {
        this.headDim = headDim;
        int half = headDim / 2;
        cos = new float[maxLen * half];
        sin = new float[maxLen * half];
        for (int p = 0; p < maxLen; p++) {
            for (int i = 0; i < half; i++) {
                double a = p * Math.pow(theta, -2.0 * i / headDim);
                cos[p * half + i] = (float) Math.cos(a);
                sin[p * half + i] = (float) Math.sin(a);
            }
        }
    }

    /** Rotates {@code heads} heads of one token at position p, starting at {@code x[o]}; {@code sign} −1 inverts. */
    void rotate(float[] x, int o, int heads, int p, int sign) {
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            int b = o + h * headDim;
            for (int i = 0; i < half; i++) {
                float c = cos[p * half + i], s = sign * sin[p * half + i];
                float a0 = x[b + i], a1 = x[b + i + half];
                x[b + i] = a0 * c - a1 * s;
                x[b + i + half] = a0 * s + a1 * c;
            }
        }
    }
}
