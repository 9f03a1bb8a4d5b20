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
    /**
     * Q8_0/Q8_1 only: {@link #qf} with each block of 32 interleaved by four, {@code qp[32b + 8j + i] = qf[32b + 4i + j]},
     * the order in which 8 int lanes holding 4 consecutive weight bytes each yield byte {@code j}.
     */
    public float[] qp = new float[0];
    /** Q8_0/Q8_1 only: per block of 32, 8 lanes {@code lsum[8b + i] = Σ_c qf[32b + 8c + i]} (exact). */
    public float[] lsum = new float[0];

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
        if (format != ActFormat.Q8_K && qp.length < n) {
            qp = new float[n];
            lsum = new float[n / 4];
        }
        if (format == ActFormat.Q8_1 && s.length < blocks) s = new float[blocks];
        if (format == ActFormat.Q8_K && bsums.length < n / 16) bsums = new short[n / 16];
        return this;
    }

    public int blocksPerRow() { return cols / format.blockSize(); }
}
