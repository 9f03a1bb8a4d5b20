package org.jmoe.cli;

import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.tensor.Parallel;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Options shared by the commands that open a model. */
final class ModelOptions {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "PATH",
            description = "GGUF file or safetensors checkpoint directory (config.json + *.safetensors).")
    Path model;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: all cores).")
    Integer threads;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    Model open() {
        if (threads != null) {
            if (threads < 1 || threads > 1024) throw new IllegalArgumentException("--threads: must be between 1 and 1024, got " + threads);
            Parallel.setGlobalThreads(threads);
        }
        return ModelLoader.load(model);
    }

    int threadCount() {
        return Parallel.global().threads();
    }
}
