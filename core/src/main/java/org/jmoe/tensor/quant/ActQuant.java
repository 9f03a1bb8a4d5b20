package org.jmoe.tensor.quant;

/** Quantizes activation rows as llama.cpp's CPU backend does before a quantized dot product. */
public final class ActQuant {
    private ActQuant() {}

    /**
     * Quantizes {@code acts.cols} values of {@code x} starting at {@code xOff} into row {@code row} of
     * {@code acts} (already {@link QuantizedActs#ensure sized}) in {@code acts.format}.
     */
    public static void quantizeRow(float[] x, int xOff, QuantizedActs acts, int row) {
        throw new UnsupportedOperationException("activation quantization for " + acts.format);
    }
}
