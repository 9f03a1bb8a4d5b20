package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Synth;
import org.jmoe.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code jmoe synth}: a random-weight model of a supported architecture. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = {"Write a random-weight model of a supported architecture (for tests, benchmarks and demos).",
                "GGUF for qwen3moe, mixtral, qwen2moe, olmoe, granitemoe; a safetensors directory for pangu-moe.",
                "Presets: tiny (hidden 64), small (hidden 256), bench-1b (1.72B params: hidden 1024, 16 layers, 64 experts, 8 used)."})
final class SynthCommand implements Runnable {
    @Option(names = "--arch", required = true, paramLabel = "ARCH", description = "qwen3moe | mixtral | qwen2moe | olmoe | granitemoe | pangu-moe")
    String arch;

    @Option(names = "--preset", defaultValue = "tiny", paramLabel = "NAME", description = "tiny | small | bench-1b (default: ${DEFAULT-VALUE})")
    String preset;

    @Option(names = "--dtype", defaultValue = "F32", paramLabel = "TYPE", description = "Dtype of every 2-D weight, embeddings and LM head included: F32 F16 BF16 Q8_0 Q4_0 ... (default: ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "Random seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "PATH", description = "Output file (directory for pangu-moe).")
    Path out;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        DType t = DType.parse(dtype);
        if (t == null) throw new JmoeException("--dtype", "unknown dtype '" + dtype + "'");
        long t0 = System.nanoTime();
        Synth.Shape s = Synth.shape(arch, preset);
        Path p = Synth.write(arch, preset, t, seed, out);
        System.err.printf("jmoe: wrote %s %s %s (%s parameters) to %s in %.1f s%n", arch, preset, t, InfoCommand.count(s.params(arch)), p, (System.nanoTime() - t0) / 1e9);
    }
}
