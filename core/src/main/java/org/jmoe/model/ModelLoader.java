package org.jmoe.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.JmoeException;
import org.jmoe.format.Checkpoint;
import org.jmoe.format.GgufFile;

import java.io.IOException;

import java.nio.file.Files;
import java.nio.file.Path;

/** Opens a model from a GGUF file or a Hugging Face safetensors checkpoint directory. */
public final class ModelLoader {
    private ModelLoader() {}

    public static Model load(Path path) {
        if (Files.isDirectory(path)) {
            if (!Checkpoint.looksLikeCheckpoint(path)) throw new JmoeException(path.toString(), "directory has no config.json: not a safetensors checkpoint");
            return HfModelLoader.load(path);
        }
        if (!Files.exists(path)) throw new JmoeException(path.toString(), "no such file or directory");
        return GgufModelLoader.load(path);
    }

    /**
     * The hyper-parameters of a model without building it: a GGUF file (its metadata), a checkpoint directory or
     * a bare Hugging Face {@code config.json} (no weights needed). The same checks as {@link #load} apply.
     */
    public static ModelConfig config(Path path) {
        Path cfg = Files.isDirectory(path) ? path.resolve("config.json") : path;
        if (!Files.exists(cfg)) throw new JmoeException(path.toString(), Files.isDirectory(path) ? "directory has no config.json" : "no such file or directory");
        if (cfg.getFileName().toString().endsWith(".json")) {
            JsonNode j;
            try {
                j = new ObjectMapper().readTree(cfg.toFile());
            } catch (IOException e) {
                throw new JmoeException(cfg.toString(), "not a JSON config: " + e.getMessage().lines().findFirst().orElse(""));
            }
            if (j == null || !j.isObject()) throw new JmoeException(cfg.toString(), "not a JSON object");
            return HfModelLoader.config(cfg.toString(), j);
        }
        try (GgufFile f = GgufFile.open(cfg)) {
            ModelConfig c = GgufModelLoader.config(f);
            org.jmoe.tensor.Tensor embd = f.tensor("token_embd.weight");
            if (embd != null) c.vocab = embd.rows(); // GGUF keeps the vocabulary size in the embedding's shape
            return c;
        }
    }
}
