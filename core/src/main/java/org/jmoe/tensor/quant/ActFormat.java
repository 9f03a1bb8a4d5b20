package org.jmoe.tensor.quant;

/**
 * How activations are quantized before a dot product with a block-quantized weight, exactly as llama.cpp's
 * CPU backend does ({@code vec_dot_type}): Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants.
 */
public enum ActFormat {
    /** Blocks of 32 int8 with one scale rounded to fp16. */
    Q8_0(32),
    /** Blocks of 32 int8 with a scale and {@code scale * sum(q)}, both rounded to fp16. */
    Q8_1(32),
    /** Blocks of 256 int8 with an fp32 scale and 16 partial sums of 16 values each. */
    Q8_K(256);

    private final int blockSize;

    ActFormat(int blockSize) { this.blockSize = blockSize; }

    public int blockSize() { return blockSize; }
}
