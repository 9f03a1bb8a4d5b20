package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.format.Checkpoint;

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
}
