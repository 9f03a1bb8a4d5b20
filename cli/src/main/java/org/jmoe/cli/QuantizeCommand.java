package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Quantizer;
import org.jmoe.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code jmoe quantize}: re-encode a GGUF model's weights in one of llama.cpp's block formats. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Quantize every 2-D weight of a GGUF model (as llama-quantize --pure; router, norms and biases stay as they are).",
                "Output is byte-identical to llama-quantize's for the same input; rows that do not fit a K-quant's",
                "256-value blocks fall back as llama-quantize does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0)."})
final class QuantizeCommand implements Runnable {
    @Option(names = {"-i", "--in"}, required = true, paramLabel = "FILE", description = "Input GGUF file.")
    Path in;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "FILE", description = "Output GGUF file (written atomically).")
    Path out;

    @Option(names = "--dtype", required = true, paramLabel = "TYPE", description = "Target block format, e.g. Q8_0, Q4_0.")
    String dtype;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        DType t = DType.parse(dtype);
        if (t == null || !t.isQuantized()) throw new JmoeException("--dtype", "not a block format: '" + dtype + "'");
        long t0 = System.nanoTime();
        for (String note : Quantizer.quantize(in, out, t)) System.err.println("jmoe: " + note);
        System.err.printf("jmoe: wrote %s as %s in %.1f s%n", out, t, (System.nanoTime() - t0) / 1e9);
    }
}
