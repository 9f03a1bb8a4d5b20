package org.jmoe.format;

import org.jmoe.tensor.DType;
import org.jmoe.tensor.quant.BlockFormat;
import org.jmoe.tensor.quant.BlockFormats;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Encodes a row of floats as a tensor type's bytes: F32, F16 (round to nearest even), BF16 (round to nearest
 * even, NaN kept quiet), or a block-quantized type through its {@link BlockFormat} (llama.cpp's reference
 * quantizer).
 */
public final class RowEncoder {
    private final DType type;
    private final BlockFormat format;

    private RowEncoder(DType type, BlockFormat format) {
        this.type = type;
        this.format = format;
    }

    /** The encoder for {@code type}; fails for types jmoe cannot write. */
    public static RowEncoder of(DType type) {
        if (type == DType.F32 || type == DType.F16 || type == DType.BF16) return new RowEncoder(type, null);
        BlockFormat f = type.isQuantized() ? BlockFormats.of(type) : null;
        if (f == null || !BlockFormats.canQuantize(type)) throw new IllegalArgumentException("cannot encode rows as " + type);
        return new RowEncoder(type, f);
    }

    /** True when {@link #of} accepts {@code type}. */
    public static boolean canEncode(DType type) {
        return type == DType.F32 || type == DType.F16 || type == DType.BF16 || (type.isQuantized() && BlockFormats.of(type) != null && BlockFormats.canQuantize(type));
    }

    public DType type() { return type; }

    /** Encodes all of {@code row} into the start of {@code dst}, which holds at least {@code type.bytesFor(row.length)} bytes. */
    public void encode(float[] row, byte[] dst) {
        switch (type) {
            case F32 -> {
                ByteBuffer bb = ByteBuffer.wrap(dst).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < row.length; i++) bb.putFloat(4 * i, row[i]);
            }
            case F16 -> {
                ByteBuffer bb = ByteBuffer.wrap(dst).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < row.length; i++) bb.putShort(2 * i, Float.floatToFloat16(row[i]));
            }
            case BF16 -> {
                ByteBuffer bb = ByteBuffer.wrap(dst).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < row.length; i++) bb.putShort(2 * i, bf16(row[i]));
            }
            default -> format.quantize(row, 0, row.length, MemorySegment.ofArray(dst), 0);
        }
    }

    /** Float to bfloat16, round to nearest even; NaN stays a (quiet) NaN. */
    public static short bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}
