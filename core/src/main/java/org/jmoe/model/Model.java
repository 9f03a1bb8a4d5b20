package org.jmoe.model;

import org.jmoe.tensor.Tensor;
import org.jmoe.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.Map;

/**
 * A loaded model: its configuration, its weights (off-heap views of the mapped files) and, when the
 * checkpoint ships one, its tokenizer. Close it to unmap the files.
 */
public final class Model implements AutoCloseable {
    private final Path path;
    private final ModelConfig config;
    private final Tensor tokenEmbd;
    private final float[] outputNorm;
    private final Tensor output;
    private final LayerWeights[] layers;
    private final Tokenizer tokenizer;
    private final Map<String, Tensor> tensors;
    private final AutoCloseable resources;

    public Model(Path path, ModelConfig config, Tensor tokenEmbd, float[] outputNorm, Tensor output, LayerWeights[] layers,
                 Tokenizer tokenizer, Map<String, Tensor> tensors, AutoCloseable resources) {
        this.path = path;
        this.config = config;
        this.tokenEmbd = tokenEmbd;
        this.outputNorm = outputNorm;
        this.output = output;
        this.layers = layers;
        this.tokenizer = tokenizer;
        this.tensors = tensors;
        this.resources = resources;
    }

    public Path path() { return path; }
    public ModelConfig config() { return config; }
    public Tensor tokenEmbd() { return tokenEmbd; }
    public float[] outputNorm() { return outputNorm; }
    /** The LM head; the token embedding when the model ties them. */
    public Tensor output() { return output; }
    public LayerWeights layer(int i) { return layers[i]; }
    /** The tokenizer, or null when the checkpoint has none. */
    public Tokenizer tokenizer() { return tokenizer; }
    /** Every tensor of the checkpoint by its file name. */
    public Map<String, Tensor> tensors() { return tensors; }

    /** Total bytes of all weights. */
    public long weightBytes() {
        long n = 0;
        for (Tensor t : tensors.values()) n += t.byteSize();
        return n;
    }

    @Override
    public void close() {
        try {
            resources.close();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
