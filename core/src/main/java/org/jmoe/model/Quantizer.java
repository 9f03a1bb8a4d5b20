package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.format.GgufFile;
import org.jmoe.format.GgufType;
import org.jmoe.format.GgufWriter;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;
import org.jmoe.tensor.quant.BlockFormat;
import org.jmoe.tensor.quant.BlockFormats;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * Re-encodes a GGUF model's weights to a block format, as {@code llama-quantize --pure} does: every 2-D and
 * 3-D weight (embeddings and LM head included) is quantized row by row with llama.cpp's reference quantizer;
 * router weights ({@code ffn_gate_inp}), norms, biases and 1-D tensors are copied unchanged.
 */
public final class Quantizer {
    private Quantizer() {}

    /** True for the tensors {@code --pure} quantization converts. */
    public static boolean quantizes(Tensor t) {
        String n = t.name();
        return t.dims() >= 2 && n.endsWith(".weight") && !n.contains("ffn_gate_inp") && !n.contains("_norm");
    }

    /**
     * The type a tensor with rows of {@code cols} values gets when {@code target} does not fit them, as
     * llama-quantize falls back: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, and F16 when even that does not fit.
     */
    public static DType fallback(DType target, long cols) {
        if (cols % target.blockSize() == 0) return target;
        DType f = switch (target) {
            case Q4_K -> DType.Q5_0;
            case Q5_K -> DType.Q5_1;
            case Q6_K -> DType.Q8_0;
            default -> DType.F16;
        };
        return cols % f.blockSize() == 0 ? f : DType.F16;
    }

    /** Quantizes {@code in} to {@code out}; returns one line per tensor that fell back to another type. */
    public static java.util.List<String> quantize(Path in, Path out, DType type) {
        java.util.List<String> notes = new java.util.ArrayList<>();
        BlockFormat bf = BlockFormats.of(type);
        if (bf == null || !BlockFormats.canQuantize(type)) throw new JmoeException("--dtype", "cannot quantize to " + type + " (supported: " + supported() + ")");
        if (in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new JmoeException("--out", "must differ from --in");
        }
        try (GgufFile f = GgufFile.open(in)) {
            GgufWriter w = new GgufWriter().putAll(f);
            w.put("general.file_type", GgufType.UINT32, fileType(type));
            for (Tensor t : f.tensors().values()) {
                DType tt = quantizes(t) ? fallback(type, t.cols()) : t.type();
                if (tt != type && quantizes(t)) notes.add(t.name() + ": rows of " + t.cols() + " values do not split into " + type + " blocks of " + type.blockSize() + ", using " + tt);
                if (quantizes(t) && t.type() != tt) {
                    long rows = t.elementCount() / t.cols();
                    BlockFormat tf = BlockFormats.of(tt);
                    w.addTensor(t.name(), tt, t.shape(), sink -> {
                        float[] row = new float[t.cols()];
                        byte[] buf = new byte[(int) tt.bytesFor(t.cols())];
                        MemorySegment seg = MemorySegment.ofArray(buf);
                        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(buf).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                        for (long r = 0; r < rows; r++) {
                            t.row(r, row, 0);
                            if (tf != null) {
                                tf.quantize(row, 0, row.length, seg, 0);
                            } else {
                                bb.clear();
                                for (float v : row) bb.putShort(Float.floatToFloat16(v));
                            }
                            sink.write(buf, 0, buf.length);
                        }
                    });
                } else {
                    w.addTensor(t);
                }
            }
            w.write(out);
        }
        return notes;
    }

    static String supported() {
        StringBuilder sb = new StringBuilder();
        for (DType t : DType.values()) if (t.isQuantized() && BlockFormats.canQuantize(t)) sb.append(sb.isEmpty() ? "" : ", ").append(t);
        return sb.toString();
    }

    static long fileType(DType t) {
        return switch (t) {
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q4_K -> 15;
            case Q5_K -> 17;
            case Q6_K -> 18;
            default -> 0;
        };
    }
}
