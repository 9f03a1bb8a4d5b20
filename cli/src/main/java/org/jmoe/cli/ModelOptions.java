package org.jmoe.cli;

import org.jmoe.calibrate.Calibration;
import org.jmoe.model.ExpertKernels;
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

    @Option(names = "--expert-kernel", paramLabel = "K", defaultValue = "auto",
            description = "Expert kernel: auto (grouped or dense by load, at the crossover 'jmoe calibrate' measured), grouped, or dense (default: ${DEFAULT-VALUE}).")
    String expertKernel;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    Model open() {
        if (threads != null) {
            if (threads < 1 || threads > 1024) throw new IllegalArgumentException("--threads: must be between 1 and 1024, got " + threads);
            Parallel.setGlobalThreads(threads);
        }
        applyKernelChoice(expertKernel);
        return ModelLoader.load(model);
    }

    /** The machine's calibration (the default file, or the documented defaults when there is none). */
    static Calibration calibration() {
        return Calibration.loadOrDefaults();
    }

    /** Sets the expert kernel choice and the calibrated grouped/dense crossover. */
    static void applyKernelChoice(String kernel) {
        ExpertKernels.setDefaultChoice(ExpertKernels.Choice.parse(kernel));
        Calibration c = calibration();
        ExpertKernels.setCrossover(c.groupedMinActivePerThread(), c.expertKernelsDtype());
    }

    int threadCount() {
        return Parallel.global().threads();
    }
}
