package org.jmoe.model;

/**
 * Rotary position embeddings: NORM pairs (x[2i], x[2i+1]) or NEOX pairs (x[i], x[i+d/2]) over the first
 * {@code ropeDim} values of a head, angle {@code theta_i = p * base^(-2i/d)}, with linear position scaling
 * or YaRN (ramp between interpolated and extrapolated angles, magnitude scale 1 + 0.1 ln(factor)) as llama.cpp
 * implements them. Angles are computed in double; cos/sin for the last position are cached.
 */
final class Rope {
    private final ModelConfig.RopeType type;
    private final int dim;
    private final double[] invFreq;
    private final double freqScale;
    private final double extFactor;
    private final double mscale;
    private final double corrLow, corrHigh;
    private final float[] cos, sin;
    private int cachedPos = -1;

    Rope(ModelConfig c) {
        this.type = c.ropeType;
        this.dim = c.ropeDim > 0 ? c.ropeDim : c.headDim;
        invFreq = new double[dim / 2];
        for (int i = 0; i < dim / 2; i++) invFreq[i] = Math.pow(c.ropeTheta, -2.0 * i / dim);
        if (c.ropeYarnFactor != 1) {
            freqScale = 1.0 / c.ropeYarnFactor;
            extFactor = c.ropeYarnExtFactor;
            mscale = c.ropeYarnAttnFactor * (1 + 0.1 * Math.log(c.ropeYarnFactor));
            double origCtx = c.ropeYarnOrigCtx > 0 ? c.ropeYarnOrigCtx : c.contextLength;
            corrLow = Math.max(0, Math.floor(corrDim(dim, origCtx, c.ropeTheta, c.ropeYarnBetaFast)));
            corrHigh = Math.min(dim - 1, Math.ceil(corrDim(dim, origCtx, c.ropeTheta, c.ropeYarnBetaSlow)));
        } else {
            freqScale = 1.0 / c.ropeLinearFactor;
            extFactor = 0;
            mscale = 1;
            corrLow = corrHigh = 0;
        }
        cos = new float[dim / 2];
        sin = new float[dim / 2];
    }

    private static double corrDim(int nDims, double origCtx, double base, double rot) {
        return nDims * Math.log(origCtx / (rot * 2 * Math.PI)) / (2 * Math.log(base));
    }

    private void table(int p) {
        if (p == cachedPos) return;
        for (int i = 0; i < dim / 2; i++) {
            double extrap = p * invFreq[i];
            double theta = freqScale * extrap;
            if (extFactor != 0) {
                double y = (i - corrLow) / Math.max(0.001, corrHigh - corrLow);
                double ramp = (1 - Math.min(1, Math.max(0, y))) * extFactor;
                theta = theta * (1 - ramp) + extrap * ramp;
            }
            cos[i] = (float) (Math.cos(theta) * mscale);
            sin[i] = (float) (Math.sin(theta) * mscale);
        }
        cachedPos = p;
    }

    /** Rotates the head starting at {@code x[o]} for position {@code p}. */
    void apply(float[] x, int o, int p) {
        table(p);
        int half = dim / 2;
        if (type == ModelConfig.RopeType.NORM) {
            for (int i = 0; i < half; i++) {
                float a = x[o + 2 * i], b = x[o + 2 * i + 1];
                x[o + 2 * i] = a * cos[i] - b * sin[i];
                x[o + 2 * i + 1] = a * sin[i] + b * cos[i];
            }
        } else {
            for (int i = 0; i < half; i++) {
                float a = x[o + i], b = x[o + i + half];
                x[o + i] = a * cos[i] - b * sin[i];
                x[o + i + half] = a * sin[i] + b * cos[i];
            }
        }
    }
}
