package org.jmoe.moe;

import org.jmoe.JmoeException;
import org.jmoe.format.SafetensorsFile;
import org.jmoe.format.SafetensorsWriter;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Ada-K allocator weights, one matrix {@code W_alloc ∈ R^{N×hidden}} per MoE layer (no bias): row n−1 scores
 * "use n experts". The file format is safetensors with one tensor per MoE layer,
 * <pre>  layers.L.allocator.weight   shape [N, hidden]   F32 (F16/BF16 accepted)</pre>
 * and metadata {@code format = jmoe-adak/1}, {@code experts = N}, {@code hidden = d}. Layers without a tensor
 * (dense layers) have none; a MoE layer without one is an error. The training lab writes trained allocators
 * in this format; {@link #random} makes untrained ones for tests and experiments.
 */
public final class AdaKAllocators {
    public static final String FORMAT = "jmoe-adak/1";
    private final int experts;
    private final int hidden;
    private final float[][] weights; // [layer] -> N*hidden row-major, null for layers without an allocator

    public AdaKAllocators(int experts, int hidden, float[][] weights) {
        this.experts = experts;
        this.hidden = hidden;
        this.weights = weights;
        for (int l = 0; l < weights.length; l++) {
            if (weights[l] != null && weights[l].length != experts * hidden) {
                throw new IllegalArgumentException("allocator of layer " + l + " has " + weights[l].length + " values, expected " + experts + " x " + hidden);
            }
        }
    }

    public static String tensorName(int layer) { return "layers." + layer + ".allocator.weight"; }

    public int experts() { return experts; }
    public int hidden() { return hidden; }
    public int layers() { return weights.length; }

    /** The allocator of {@code layer} ([N x hidden] row-major), or null. */
    public float[] layer(int layer) { return layer < weights.length ? weights[layer] : null; }

    /**
     * Loads allocators for a model with {@code layers} layers, {@code experts} experts and {@code hidden} width;
     * {@code moeLayer[l]} tells which layers need one.
     */
    public static AdaKAllocators load(Path file, int layers, int experts, int hidden, boolean[] moeLayer) {
        String who = file.toString();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, Tensor> t = f.tensors();
            for (String name : t.keySet()) {
                if (!name.matches("layers\\.\\d+\\.allocator\\.weight")) throw new JmoeException(who, "unexpected tensor (an Ada-K allocator file holds only layers.L.allocator.weight)", "tensor " + name);
                int l = Integer.parseInt(name.substring(7, name.indexOf('.', 7)));
                if (l >= layers) throw new JmoeException(who, "allocator for layer " + l + " but the model has " + layers + " layers", "tensor " + name);
            }
            float[][] w = new float[layers][];
            for (int l = 0; l < layers; l++) {
                Tensor x = t.get(tensorName(l));
                if (x == null) {
                    if (moeLayer[l]) throw new JmoeException(who, "no allocator for MoE layer " + l, "tensor " + tensorName(l));
                    continue;
                }
                if (x.type() != DType.F32 && x.type() != DType.F16 && x.type() != DType.BF16) throw new JmoeException(who, "allocator dtype " + x.type() + " (expected F32, F16 or BF16)", "tensor " + x.name());
                if (x.dims() != 2 || x.rows() != experts || x.cols() != hidden) {
                    throw new JmoeException(who, "allocator shape [" + x.ne(1) + ", " + x.ne(0) + "], the model needs [" + experts + ", " + hidden + "] (experts, hidden)", "tensor " + x.name());
                }
                w[l] = x.toFloats();
            }
            return new AdaKAllocators(experts, hidden, w);
        }
    }

    /** Writes the allocators atomically. */
    public void write(Path file) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("experts", Integer.toString(experts));
        meta.put("hidden", Integer.toString(hidden));
        SafetensorsWriter w = new SafetensorsWriter(meta);
        try (Arena arena = Arena.ofConfined()) {
            for (int l = 0; l < weights.length; l++) {
                if (weights[l] == null) continue;
                MemorySegment seg = arena.allocate((long) weights[l].length * 4, 64);
                MemorySegment.copy(weights[l], 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, weights[l].length);
                w.add(tensorName(l), DType.F32, new long[]{experts, hidden}, seg);
            }
            w.write(file);
        }
    }

    /**
     * Untrained allocators: entries uniform in ±{@code scale}/√hidden, plus {@code bias} added to the row
     * {@code favouredK − 1} through a constant direction, so that argmax k is spread around favouredK.
     */
    public static AdaKAllocators random(int layers, boolean[] moeLayer, int experts, int hidden, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        float[][] w = new float[layers][];
        double a = scale / Math.sqrt(hidden);
        for (int l = 0; l < layers; l++) {
            if (!moeLayer[l]) continue;
            w[l] = new float[experts * hidden];
            for (int i = 0; i < w[l].length; i++) w[l][i] = (float) ((r.nextDouble() * 2 - 1) * a);
        }
        return new AdaKAllocators(experts, hidden, w);
    }
}
