package org.jmoe.tensor;

/**
 * Element types of tensors, with llama.cpp's (ggml's) type ids and block layouts. Quantized types store
 * {@link #blockSize()} elements in {@link #blockBytes()} bytes; plain types have a block of one element.
 */
public enum DType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    Q8_0(8, 32, 34),
    Q8_1(9, 32, 36),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    Q8_K(15, 256, 292),
    I8(24, 1, 1),
    I16(25, 1, 2),
    I32(26, 1, 4),
    I64(27, 1, 8),
    F64(28, 1, 8),
    BF16(30, 1, 2);

    private final int ggmlId;
    private final int blockSize;
    private final int blockBytes;

    DType(int ggmlId, int blockSize, int blockBytes) {
        this.ggmlId = ggmlId;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** The ggml type id used in GGUF files. */
    public int ggmlId() { return ggmlId; }

    /** Elements per block (1 for plain types). */
    public int blockSize() { return blockSize; }

    /** Bytes per block. */
    public int blockBytes() { return blockBytes; }

    public boolean isQuantized() { return blockSize > 1; }

    /** Bytes needed for {@code n} elements; {@code n} must be a multiple of the block size. */
    public long bytesFor(long n) {
        if (n % blockSize != 0) throw new IllegalArgumentException(this + ": " + n + " elements is not a multiple of the block size " + blockSize);
        return n / blockSize * blockBytes;
    }

    /** The type with this ggml id, or null if jmoe does not know it. */
    public static DType ofGgmlId(int id) {
        for (DType t : values()) if (t.ggmlId == id) return t;
        return null;
    }

    /** Parses a type name such as {@code Q8_0} or {@code bf16} (case-insensitive), or null. */
    public static DType parse(String name) {
        for (DType t : values()) if (t.name().equalsIgnoreCase(name)) return t;
        return null;
    }
}
