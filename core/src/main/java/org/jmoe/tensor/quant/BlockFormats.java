package org.jmoe.tensor.quant;

import org.jmoe.tensor.DType;

/** The {@link BlockFormat} of each block-quantized {@link DType} jmoe computes with. */
public final class BlockFormats {
    private static final BlockFormat Q8_0_FORMAT = new Q8_0();
    private static final BlockFormat Q4_0_FORMAT = new Q4_0();
    private static final BlockFormat Q4_1_FORMAT = new LegacyQuants(DType.Q4_1);
    private static final BlockFormat Q5_0_FORMAT = new LegacyQuants(DType.Q5_0);
    private static final BlockFormat Q5_1_FORMAT = new LegacyQuants(DType.Q5_1);
    private static final BlockFormat Q4_K_FORMAT = new KQuants(DType.Q4_K);
    private static final BlockFormat Q5_K_FORMAT = new KQuants(DType.Q5_K);
    private static final BlockFormat Q6_K_FORMAT = new KQuants(DType.Q6_K);
    private static final BlockFormat Q2_K_FORMAT = new KQuants(DType.Q2_K);
    private static final BlockFormat Q3_K_FORMAT = new KQuants(DType.Q3_K);

    private BlockFormats() {}

    /** True when jmoe can also write {@code type}. */
    public static boolean canQuantize(DType type) {
        return of(type) != null && type != DType.Q2_K && type != DType.Q3_K;
    }

    /** The format for {@code type}, or null when jmoe cannot compute with it. */
    public static BlockFormat of(DType type) {
        return switch (type) {
            case Q8_0 -> Q8_0_FORMAT;
            case Q4_0 -> Q4_0_FORMAT;
            case Q4_1 -> Q4_1_FORMAT;
            case Q5_0 -> Q5_0_FORMAT;
            case Q5_1 -> Q5_1_FORMAT;
            case Q4_K -> Q4_K_FORMAT;
            case Q5_K -> Q5_K_FORMAT;
            case Q6_K -> Q6_K_FORMAT;
            case Q2_K -> Q2_K_FORMAT;
            case Q3_K -> Q3_K_FORMAT;
            default -> null;
        };
    }
}
