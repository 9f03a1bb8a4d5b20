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

    public static void quantize(Path in, Path out, DType type) {
        BlockFormat bf = BlockFormats.of(type);
        if (bf == null || !BlockFormats.canQuantize(type)) throw new JmoeException("--dtype", "cannot quantize to " + type + " (supported: " + supported() + ")");
        if (in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new JmoeException("--out", "must differ from --in");
        }
        try (GgufFile f = GgufFile.open(in)) {
            GgufWriter w = new GgufWriter().putAll(f);
            w.put("general.file_type", GgufType.UINT32, fileType(type));
            for (Tensor t : f.tensors().values()) {
                if (quantizes(t) && t.type() != type) {
                    if (t.cols() % type.blockSize() != 0) {
                        throw new JmoeException(in.toString(), "rows of " + t.cols() + " values do not split into " + type + " blocks of " + type.blockSize(), "tensor " + t.name());
                    }
                    long rows = t.elementCount() / t.cols();
                    w.addTensor(t.name(), type, t.shape(), sink -> {
                        float[] row = new float[t.cols()];
                        byte[] buf = new byte[(int) type.bytesFor(t.cols())];
                        MemorySegment seg = MemorySegment.ofArray(buf);
                        for (long r = 0; r < rows; r++) {
                            t.row(r, row, 0);
                            bf.quantize(row, 0, row.length, seg, 0);
                            sink.write(buf, 0, buf.length);
                        }
                    });
                } else {
                    w.addTensor(t.name(), t.type(), t.shape(), sink -> sink.write(t.data().asByteBuffer()));
                }
            }
            w.write(out);
        }
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
