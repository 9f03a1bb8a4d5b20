package org.jmoe.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A tensor stored off-heap (usually a slice of a memory-mapped model file). Shapes are in ggml order:
 * {@code ne[0]} is the innermost (contiguous) dimension, so a matrix with {@code ne = [cols, rows]} holds
 * {@code rows} rows of {@code cols} values; an expert stack has {@code ne = [cols, rows, experts]}.
 */
public final class Tensor {
    private final String name;
    private final DType type;
    private final long[] ne;
    private final MemorySegment data;

    public Tensor(String name, DType type, long[] ne, MemorySegment data) {
        this.name = name;
        this.type = type;
        this.ne = ne.clone();
        this.data = data;
        long need = type.bytesFor(elementCount());
        if (data.byteSize() < need) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes given, " + need + " needed");
        }
    }

    public String name() { return name; }
    public DType type() { return type; }
    public MemorySegment data() { return data; }
    public int dims() { return ne.length; }
    public long ne(int i) { return i < ne.length ? ne[i] : 1; }
    public long[] shape() { return ne.clone(); }

    public long elementCount() {
        long n = 1;
        for (long d : ne) n *= d;
        return n;
    }

    /** Values per row ({@code ne[0]}). */
    public int cols() { return Math.toIntExact(ne[0]); }

    /** Rows of one matrix ({@code ne[1]}). */
    public int rows() { return Math.toIntExact(ne(1)); }

    public long rowBytes() { return type.bytesFor(ne[0]); }

    public long byteSize() { return type.bytesFor(elementCount()); }

    /** The matrix {@code i} of a stack of matrices ({@code ne[2]} of them), as a 2-D view without copying. */
    public Tensor slice(int i) {
        if (ne.length < 3 || i < 0 || i >= ne[2]) throw new IndexOutOfBoundsException(name + ": matrix " + i + " of " + Arrays.toString(ne));
        long bytes = rowBytes() * ne[1];
        return new Tensor(name + "[" + i + "]", type, new long[]{ne[0], ne[1]}, data.asSlice(bytes * i, bytes));
    }

    /** Row {@code r} decoded to floats into {@code dst[dstOff..dstOff+cols)}. */
    public void row(long r, float[] dst, int dstOff) {
        Dequant.row(this, r, dst, dstOff);
    }

    /** All values as floats (small tensors only: norms, biases, router scales). */
    public float[] toFloats() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException(name + ": too large to copy to the heap");
        float[] out = new float[(int) n];
        long rowsTotal = n / ne[0];
        for (long r = 0; r < rowsTotal; r++) row(r, out, (int) (r * ne[0]));
        return out;
    }

    public float getFloat(long index) {
        return switch (type) {
            case F32 -> data.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, index);
            case F16 -> Float.float16ToFloat(data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, index));
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, index) << 16);
            default -> {
                float[] tmp = new float[cols()];
                row(index / ne[0], tmp, 0);
                yield tmp[(int) (index % ne[0])];
            }
        };
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(ne);
    }
}
