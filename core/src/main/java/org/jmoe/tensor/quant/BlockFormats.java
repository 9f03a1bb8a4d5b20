package org.jmoe.tensor.quant;

import org.jmoe.tensor.DType;

/** The {@link BlockFormat} of each block-quantized {@link DType} jmoe computes with. */
public final class BlockFormats {
    private static final BlockFormat Q8_0_FORMAT = new Q8_0();
    private static final BlockFormat Q4_0_FORMAT = new Q4_0();

    private BlockFormats() {}

    /** The format for {@code type}, or null when jmoe cannot compute with it. */
    public static BlockFormat of(DType type) {
        return switch (type) {
            case Q8_0 -> Q8_0_FORMAT;
            case Q4_0 -> Q4_0_FORMAT;
            default -> null;
        };
    }
}
