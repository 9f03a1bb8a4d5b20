package org.jmoe.tensor.quant;

/**
 * A batch of activation rows quantized to one {@link ActFormat}: {@code rows} rows of {@code cols} values.
 * Row {@code t} occupies {@code qs[t*cols .. (t+1)*cols)}, block scales {@code d[t*blocksPerRow ..]},
 * for Q8_1 {@code s[...]} (fp16-rounded {@code d * sum(q)} per block), for Q8_K {@code bsums[t*cols/16 ..]}.
 * Reused across calls to avoid allocation on the hot path ({@link #ensure}).
 */
public final class QuantizedActs {
    public ActFormat format;
    public int rows;
    public int cols;
    public byte[] qs = new byte[0];
    public float[] d = new float[0];
    public float[] s = new float[0];
    public short[] bsums = new short[0];
    /** The int8 values of {@link #qs} as floats (exact), for kernels that multiply in float lanes. */
    public float[] qf = new float[0];

    /** Resizes the buffers (only growing them) for {@code rows x cols} in {@code format}. */
    public QuantizedActs ensure(ActFormat format, int rows, int cols) {
        if (cols % format.blockSize() != 0) {
            throw new IllegalArgumentException("row length " + cols + " is not a multiple of " + format + "'s block size " + format.blockSize());
        }
        this.format = format;
        this.rows = rows;
        this.cols = cols;
        int n = rows * cols;
        int blocks = n / format.blockSize();
        if (qs.length < n) {
            qs = new byte[n];
            qf = new float[n];
        }
        if (d.length < blocks) d = new float[blocks];
        if (format == ActFormat.Q8_1 && s.length < blocks) s = new float[blocks];
        if (format == ActFormat.Q8_K && bsums.length < n / 16) bsums = new short[n / 16];
        return this;
    }

    public int blocksPerRow() { return cols / format.blockSize(); }
}
