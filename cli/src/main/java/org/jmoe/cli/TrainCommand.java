package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.format.AtomicFiles;
import org.jmoe.moe.RouterSpec;
import org.jmoe.train.TrainConfig;
import org.jmoe.train.TrainLog;
import org.jmoe.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code jmoe train}: trains a small MoE model from text, with one router or several side by side. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a small MoE language model (F32, forward and backward in Java) on a text file or directory.",
                "Writes DIR/model/ (config.json, model.safetensors, tokenizer.json; 'jmoe generate -m DIR/model'), DIR/model.gguf,",
                "DIR/log.jsonl, DIR/curves.png and DIR/checkpoint/ (running again into DIR resumes the run).",
                "Presets (16 experts, top-4): micro (seconds), tiny (about a minute), small.",
                "--routers a,b,c trains one model per router on the same data and seed and writes DIR/comparison.{md,json,png}."})
final class TrainCommand implements Runnable {
    @Option(names = "--data", required = true, paramLabel = "FILE|DIR", description = "Text to train on (documents separated by blank lines).")
    Path data;

    @Option(names = "--preset", defaultValue = "tiny", paramLabel = "NAME", description = "micro | tiny | small (default: ${DEFAULT-VALUE})")
    String preset;

    @Option(names = "--router", defaultValue = "topk", paramLabel = "SPEC",
            description = "topk, switch[:cf=1.25], hash, moge[:groups=D], locmoe[:gate=grap], deepseek:aux_free=true (default: ${DEFAULT-VALUE})")
    String router;

    @Option(names = "--routers", paramLabel = "A,B,C", description = "Train once per router (same data and seed) and compare.")
    String routers;

    @Option(names = "--devices", defaultValue = "4", paramLabel = "D", description = "Simulated devices the experts are placed on (default: ${DEFAULT-VALUE})")
    int devices;

    @Option(names = "--nodes", defaultValue = "2", paramLabel = "G", description = "Simulated nodes the devices are grouped into (default: ${DEFAULT-VALUE})")
    int nodes;

    @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps (default: micro 40, tiny 600, small 1000)")
    Integer steps;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "Seed of the split, initialisation and batches (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--lr", defaultValue = "3e-3", paramLabel = "LR", description = "Peak learning rate (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--checkpoint-every", defaultValue = "0", paramLabel = "N", description = "Steps between checkpoints (default: every 10%% of the steps)")
    int checkpointEvery;

    @Option(names = "--threads", paramLabel = "N", description = "Threads (default: all cores)")
    Integer threads;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory.")
    Path out;

    @Option(names = "--json", description = "Print the result as one JSON object on stdout.")
    boolean json;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        if (!TrainConfig.PRESETS.contains(preset)) throw new JmoeException("--preset", "unknown preset '" + preset + "' (one of " + String.join(", ", TrainConfig.PRESETS) + ")");
        if (threads != null) org.jmoe.Engine.threads(threads);
        int n = steps != null ? steps : switch (preset) {
            case "micro" -> 40;
            case "tiny" -> 600;
            default -> 1000;
        };
        List<String> specs = new ArrayList<>();
        if (routers != null) for (RouterSpec s : RouterSpec.parseList(routers, "--routers")) specs.add(s.text());
        else specs.add(RouterSpec.parse(router, "--router").text());
        Map<String, Object> result = new LinkedHashMap<>();
        Map<String, List<TrainLog.Entry>> logs = new LinkedHashMap<>();
        List<Map<String, Object>> rows = new ArrayList<>();
        for (String spec : specs) {
            Path dir = specs.size() == 1 ? out : out.resolve(dirName(spec));
            Trainer.Options o = new Trainer.Options(preset, spec, devices, nodes, n, seed, lr, checkpointEvery, 32);
            System.err.printf(Locale.ROOT, "jmoe: training %s with router %s for %d steps into %s%n", preset, spec, n, dir);
            Trainer.Result r = Trainer.run(data, dir, o, (e, total, eta) -> progress(spec, e, total, eta));
            List<TrainLog.Entry> log = TrainLog.read(dir.resolve("log.jsonl"));
            TrainPlot.write(dir.resolve("curves.png"), TrainPlot.one(spec, log));
            logs.put(spec, log);
            rows.add(summary(r, log));
            System.err.printf(Locale.ROOT, "jmoe: %s: val ppl %.2f, %.0f tokens/s; model in %s%n", spec, r.finalValPpl(), r.meanTokensPerS(), r.modelDir());
        }
        if (specs.size() > 1) {
            TrainPlot.write(out.resolve("comparison.png"), logs);
            Json.writeFile(out.resolve("comparison.json"), Map.of("preset", preset, "steps", n, "seed", seed, "devices", devices, "nodes", nodes, "runs", rows), false);
            String md = markdown(rows);
            AtomicFiles.write(out.resolve("comparison.md"), tmp -> Files.writeString(tmp, md));
            System.err.print(md);
            result.put("runs", rows);
        } else {
            result.putAll(rows.get(0));
        }
        if (json) System.out.println(Json.write(result));
    }

    static String dirName(String spec) {
        return spec.replaceAll("[^A-Za-z0-9._-]+", "_");
    }

    private static void progress(String spec, TrainLog.Entry e, long total, double eta) {
        String val = e.valPpl() == null ? "" : String.format(Locale.ROOT, "  val ppl %.2f", e.valPpl());
        String time = Double.isNaN(eta) ? "" : String.format(Locale.ROOT, "  %.0f tok/s  ETA %d:%02d", e.tokensPerS(), (long) eta / 60, (long) eta % 60);
        System.err.printf(Locale.ROOT, "%s step %d/%d  loss %.4f%s  IS %.3f  cross-node %.3f%s%n", spec, e.step(), total, e.loss(), val, e.imbalance(), e.crossNode(), time);
    }

    private static Map<String, Object> summary(Trainer.Result r, List<TrainLog.Entry> log) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("router", r.router());
        m.put("val_ppl", r.finalValPpl());
        m.put("final_loss", log.getLast().loss());
        m.put("imbalance_score", log.stream().mapToDouble(TrainLog.Entry::imbalance).average().orElse(0));
        m.put("max_imbalance_score", log.stream().mapToDouble(TrainLog.Entry::imbalance).max().orElse(0));
        m.put("cross_node_fraction", log.stream().mapToDouble(TrainLog.Entry::crossNode).average().orElse(0));
        m.put("drop_fraction", log.stream().mapToDouble(TrainLog.Entry::drops).average().orElse(0));
        m.put("tokens_per_s", r.meanTokensPerS());
        double k = log.stream().mapToDouble(e -> 1 - e.drops()).average().orElse(1) * r.slots();
        m.put("gflop_per_s", r.meanTokensPerS() * r.config().trainFlopsPerToken(k) / 1e9);
        m.put("model", r.modelDir().toString());
        return m;
    }

    static String markdown(List<Map<String, Object>> rows) {
        StringBuilder b = new StringBuilder("| router | val ppl | final loss | mean IS | max IS | cross-node fraction | drops | tokens/s | GFLOP/s |\n|---|---|---|---|---|---|---|---|---|\n");
        for (Map<String, Object> r : rows) {
            b.append(String.format(Locale.ROOT, "| `%s` | %.2f | %.3f | %.4f | %.4f | %.3f | %.3f | %.0f | %.2f |%n", r.get("router"), r.get("val_ppl"), r.get("final_loss"),
                    r.get("imbalance_score"), r.get("max_imbalance_score"), r.get("cross_node_fraction"), r.get("drop_fraction"), r.get("tokens_per_s"),
                    r.get("gflop_per_s")));
        }
        return b.toString();
    }
}
