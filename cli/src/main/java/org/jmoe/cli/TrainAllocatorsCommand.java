package org.jmoe.cli;

import org.jmoe.train.AdaKTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** {@code jmoe train-allocators}: Ada-K allocators for a frozen top-k model, trained by PPO. */
@Command(name = "train-allocators", mixinStandardHelpOptions = true,
        description = {"Train Ada-K allocators (one per MoE layer) for a frozen top-k (or MoGE) model by PPO: reward = log-likelihood of the",
                "next token, advantage against the model's top-K pass, PPO-clip + 3e-3 * E[k], warm start on pseudo-labels.",
                "Writes the allocator file 'adak:allocators=FILE' loads, and reports mean k, expert FLOPs saved and validation",
                "perplexity against top-K."})
final class TrainAllocatorsCommand implements Runnable {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "MODEL", description = "Model (GGUF or checkpoint directory) with a tokenizer.")
    Path model;

    @Option(names = "--data", required = true, paramLabel = "FILE|DIR", description = "Text (documents separated by blank lines).")
    Path data;

    @Option(names = "--iterations", defaultValue = "100", paramLabel = "N", description = "PPO iterations (default: ${DEFAULT-VALUE})")
    int iterations;

    @Option(names = "--threshold", defaultValue = "0.5", paramLabel = "P",
            description = "Warm-start pseudo-label: the smallest k whose sorted cumulative router probability reaches P (default: ${DEFAULT-VALUE})")
    double threshold;

    @Option(names = "--windows", defaultValue = "16", paramLabel = "N", description = "Training windows per PPO iteration (default: ${DEFAULT-VALUE})")
    int windows;

    @Option(names = "--val-windows", defaultValue = "64", paramLabel = "N",
            description = "Validation windows (of the model's context, up to 64 tokens) for the perplexities (default: ${DEFAULT-VALUE})")
    int valWindows;

    @Option(names = "--lambda", defaultValue = "3e-3", paramLabel = "L", description = "Weight of the expected-k cost, lambda * E[k] (default: ${DEFAULT-VALUE}, the paper's)")
    double lambda;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "Seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Allocator file (safetensors).")
    Path out;

    @Option(names = "--json", description = "Print {mean_k, default_k, val_ppl, val_ppl_topk, expert_flops_saved} as one JSON object.")
    boolean json;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        if (iterations < 0) throw new org.jmoe.JmoeException("--iterations", "must be >= 0, got " + iterations);
        if (!(threshold > 0 && threshold <= 1)) throw new org.jmoe.JmoeException("--threshold", "must be in (0, 1], got " + threshold);
        if (windows < 1 || valWindows < 1) throw new org.jmoe.JmoeException(windows < 1 ? "--windows" : "--val-windows", "must be >= 1");
        if (!(lambda >= 0)) throw new org.jmoe.JmoeException("--lambda", "must be >= 0, got " + lambda);
        AdaKTrainer.Options o = AdaKTrainer.Options.defaults(seed).withIterations(iterations).withThreshold(threshold)
                .withWindows(windows, valWindows).withLambda(lambda);
        AdaKTrainer.Result r = AdaKTrainer.run(model, data, out, o, s -> System.err.println("jmoe: " + s));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mean_k", r.meanK());
        m.put("default_k", r.defaultK());
        m.put("val_ppl", r.valPpl());
        m.put("val_ppl_topk", r.valPplTopK());
        m.put("expert_flops_saved", r.expertFlopsSaved());
        m.put("mean_k_per_layer", r.meanKPerLayer());
        m.put("allocators", out.toString());
        System.err.printf(Locale.ROOT, "jmoe: wrote %s: mean k %.2f of %d (%.1f%% of routed-expert FLOPs saved), val ppl %.3f vs %.3f with top-%d%n",
                out, r.meanK(), r.defaultK(), 100 * r.expertFlopsSaved(), r.valPpl(), r.valPplTopK(), r.defaultK());
        if (json) System.out.println(Json.write(m));
    }
}
