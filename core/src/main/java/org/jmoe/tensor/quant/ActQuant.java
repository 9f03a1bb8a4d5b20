package org.jmoe.tensor.quant;

/**
 * Quantizes activation rows as llama.cpp's CPU backend (x86 AVX2 path) does before a quantized dot product.
 * Q8_0: per block of 32, {@code d = fp16(amax / 127)}, {@code q = round_half_even(x * (127 / amax))}.
 */
public final class ActQuant {
    private ActQuant() {}

    /**
     * Quantizes {@code acts.cols} values of {@code x} starting at {@code xOff} into row {@code row} of
     * {@code acts} (already {@link QuantizedActs#ensure sized}) in {@code acts.format}.
     */
    public static void quantizeRow(float[] x, int xOff, QuantizedActs acts, int row) {
        switch (acts.format) {
            case Q8_0 -> q8_0(x, xOff, acts, row);
            default -> throw new UnsupportedOperationException("activation quantization to " + acts.format);
        }
    }

    private static void q8_0(float[] x, int xOff, QuantizedActs a, int row) {
        int n = a.cols, nb = n / 32;
        int qo = row * n, bo = row * nb;
        for (int b = 0; b < nb; b++) {
            int o = xOff + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[o + i]));
            float d = amax / 127f;
            float id = amax != 0f ? 127f / amax : 0f;
            a.d[bo + b] = Float.float16ToFloat(Float.floatToFloat16(d));
            for (int i = 0; i < 32; i++) {
                int q = (int) Math.rint(x[o + i] * id);
                a.qs[qo + b * 32 + i] = (byte) q;
                a.qf[qo + b * 32 + i] = q;
            }
        }
    }
}
