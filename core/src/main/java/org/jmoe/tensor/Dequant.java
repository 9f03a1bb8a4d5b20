package org.jmoe.tensor;

import org.jmoe.tensor.quant.BlockFormat;
import org.jmoe.tensor.quant.BlockFormats;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Decoding rows of any supported dtype to float. */
public final class Dequant {
    private Dequant() {}

    public static void row(Tensor t, long r, float[] dst, int dstOff) {
        int n = t.cols();
        MemorySegment seg = t.data();
        long off = r * t.rowBytes();
        switch (t.type()) {
            case F32 -> MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT_UNALIGNED, off, dst, dstOff, n);
            case F16 -> {
                for (int i = 0; i < n; i++) dst[dstOff + i] = Float.float16ToFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2L * i));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) dst[dstOff + i] = Float.intBitsToFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2L * i) << 16);
            }
            default -> {
                BlockFormat f = BlockFormats.of(t.type());
                if (f == null) throw new UnsupportedOperationException(t.name() + ": cannot decode dtype " + t.type());
                f.dequantize(seg, off, dst, dstOff, n);
            }
        }
    }
}
