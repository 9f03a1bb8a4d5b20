package org.jmoe.tensor.quant;

import org.jmoe.tensor.DType;

import java.lang.foreign.MemorySegment;

/**
 * One block-quantized weight type in llama.cpp's layout: dequantize, quantize, and dot products against
 * quantized activations. Implementations are stateless and thread-safe.
 */
public interface BlockFormat {
    DType type();

    /** The format activations are quantized to before {@link #dotRows}. */
    ActFormat actFormat();

    /** Decodes {@code n} values (a multiple of the block size) starting at byte {@code offset} of {@code src}. */
    void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n);

    /** Encodes {@code n} values (a multiple of the block size) into {@code dst} at byte {@code offset}, as llama.cpp's reference quantizer does. */
    void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset);

    /**
     * For weight rows {@code r0 <= r < r1} (row {@code r} starts at {@code wOffset + r * rowBytes}, {@code cols}
     * values) and activation row {@code t} of {@code acts}: {@code out[outOff + (r - r0)] = dot(w_r, a_t)}.
     * The accumulation order over the row is fixed (it never depends on r0, r1 or t), so results are
     * bit-identical whichever rows or tokens a call covers.
     */
    void dotRows(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t,
                 int r0, int r1, float[] out, int outOff);

    /**
     * For weight row {@code r} and activation rows {@code t0 <= t < t0 + nt}:
     * {@code out[outOff + (t - t0) * outStride] = dot(w_r, a_t)}, bit-identical to {@link #dotRows} (same
     * per-output order); formats override it to decode each weight block once for all {@code nt} tokens.
     */
    default void dotTokens(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t0, int nt,
                           int r, float[] out, int outOff, int outStride) {
        float[] one = new float[1];
        for (int i = 0; i < nt; i++) {
            dotRows(w, wOffset, rowBytes, cols, acts, t0 + i, r, r + 1, one, 0);
            out[outOff + i * outStride] = one[0];
        }
    }
}
