package org.jmoe.tensor.quant;

import org.jmoe.tensor.DType;

/** The {@link BlockFormat} of each block-quantized {@link DType} jmoe computes with. */
public final class BlockFormats {
    private BlockFormats() {}

    /** The format for {@code type}, or null when jmoe cannot compute with it. */
    public static BlockFormat of(DType type) {
        return switch (type) {
            default -> null;
        };
    }
}
