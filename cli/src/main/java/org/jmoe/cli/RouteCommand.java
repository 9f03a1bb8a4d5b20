package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.moe.Placement;
import org.jmoe.moe.Router;
import org.jmoe.moe.RouterSpec;
import org.jmoe.moe.RoutingStats;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code jmoe route}: runs a model over a text with several routers side by side, in lockstep over the same
 * batches, and compares what each does to the mesh (imbalance score, max/mean device load, mean k, dropped
 * assignments, bytes crossing devices and nodes) and to the outputs (KL divergence of each position's
 * next-token distribution from the model's own router's, and top-1 agreement).
 */
@Command(name = "route", mixinStandardHelpOptions = true,
        description = "Compare routers on one model and text: load balance, locality and how far the outputs move from the model's own router.")
final class RouteCommand implements Runnable {
    @Mixin
    ModelOptions mo;

    @ArgGroup(multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = {"-f", "--input"}, paramLabel = "FILE", description = "UTF-8 text file (needs a tokenizer).")
        Path file;

        @Option(names = "--tokens", paramLabel = "IDS", description = "Comma-separated token ids.")
        String tokens;
    }

    @Option(names = "--routers", paramLabel = "SPECS", defaultValue = "native",
            description = "Comma-separated router specs to compare (native is always run as the reference) (default: ${DEFAULT-VALUE}).")
    String routers;

    @Option(names = "--devices", paramLabel = "D", defaultValue = "1", description = "Devices of the mesh (default: ${DEFAULT-VALUE}).")
    int devices;

    @Option(names = "--nodes", paramLabel = "G", defaultValue = "1", description = "Nodes (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Option(names = "--placement", paramLabel = "P", defaultValue = "contiguous", description = "contiguous or round-robin (default: ${DEFAULT-VALUE}).")
    String placement;

    @Option(names = {"-b", "--batch"}, paramLabel = "N", defaultValue = "16", description = "Tokens per routing batch |X| (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = {"-c", "--ctx"}, paramLabel = "N", defaultValue = "256", description = "Window length: the cache is reset every N tokens (default: ${DEFAULT-VALUE}).")
    int ctx;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "4096", description = "Use at most N tokens of the input (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--stats-dir", paramLabel = "DIR", description = "Also write each router's statistics (docs/TRACE.md) as DIR/<router>.json.")
    Path statsDir;

    @Option(names = "--json", description = "Print one JSON object: {\"routers\": [{\"name\", \"imbalance_score\", ...}]}.")
    boolean json;

    /** One router's run. */
    private static final class Run {
        final String name;
        final Forward f;
        final RoutingStats stats;
        double kl;
        long agree;

        Run(String name, Forward f, RoutingStats stats) {
            this.name = name;
            this.f = f;
            this.stats = stats;
        }
    }

    @Override
    public void run() {
        if (batch < 1) throw new JmoeException("--batch", "must be >= 1, got " + batch);
        if (ctx < 1) throw new JmoeException("--ctx", "must be >= 1, got " + ctx);
        if (maxTokens < 1) throw new JmoeException("--max-tokens", "must be >= 1, got " + maxTokens);
        List<RouterSpec> specs = RouterSpec.parseList(routers, "--routers");
        try (Model m = mo.open()) {
            ModelConfig c = m.config();
            if (c.experts == 0) throw new JmoeException(mo.model.toString(), "the model has no MoE layers to route");
            int[] ids = input.tokens != null ? LogitsCommand.parseTokens(input.tokens, c.vocab) : readText(m);
            if (ids.length > maxTokens) ids = java.util.Arrays.copyOf(ids, maxTokens);
            Placement.checkMesh(devices, nodes);
            Placement p = Placement.named(placement, c.experts, devices, nodes);
            int window = Math.min(ctx, ids.length);
            List<Run> runs = new ArrayList<>();
            Run reference = null;
            for (RouterSpec s : specs) runs.add(newRun(m, s.text(), p));
            for (Run r : runs) if (r.name.equals("native")) reference = r;
            boolean extraReference = reference == null;
            if (extraReference) reference = newRun(m, "native", p);
            int V = c.vocab;
            float[] ref = new float[batch * V], out = new float[batch * V];
            double[] refLogP = new double[V];
            long positions = 0;
            long t0 = System.nanoTime();
            for (int w0 = 0; w0 < ids.length; w0 += window) {
                int w1 = Math.min(ids.length, w0 + window);
                reference.f.reset();
                for (Run r : runs) r.f.reset();
                for (int b0 = w0; b0 < w1; b0 += batch) {
                    int[] chunk = java.util.Arrays.copyOfRange(ids, b0, Math.min(w1, b0 + batch));
                    int n = chunk.length;
                    reference.f.eval(chunk, ref, true);
                    for (Run r : runs) {
                        float[] o;
                        if (r == reference) o = ref;
                        else {
                            r.f.eval(chunk, out, true);
                            o = out;
                        }
                        for (int t = 0; t < n; t++) {
                            logSoftmax(ref, t * V, V, refLogP);
                            r.kl += kl(refLogP, o, t * V, V);
                            if (argmax(ref, t * V, V) == argmax(o, t * V, V)) r.agree++;
                        }
                    }
                    positions += n;
                }
                if (!json) System.err.printf("jmoe: %d/%d tokens%n", w1, ids.length);
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            if (statsDir != null) {
                try {
                    Files.createDirectories(statsDir);
                } catch (IOException e) {
                    throw new JmoeException(statsDir.toString(), "cannot create directory: " + e.getMessage());
                }
                for (Run r : runs) r.stats.write(statsDir.resolve(fileName(r.name) + ".json"));
            }
            List<Map<String, Object>> rows = new ArrayList<>();
            for (Run r : runs) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("name", r.name);
                o.put("imbalance_score", r.stats.meanImbalanceScore());
                o.put("max_over_mean", r.stats.meanMaxOverMean());
                o.put("mean_k", r.stats.meanK());
                o.put("dropped", r.stats.dropped());
                o.put("cross_device_bytes", r.stats.crossDeviceBytes());
                o.put("cross_node_bytes", r.stats.crossNodeBytes());
                o.put("kl_vs_native", r.kl / positions);
                o.put("top1_agreement", (double) r.agree / positions);
                rows.add(o);
            }
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("model", mo.model.toString());
                o.put("tokens", ids.length);
                o.put("batch", batch);
                o.put("devices", devices);
                o.put("nodes", nodes);
                o.put("placement", p.name());
                o.put("routers", rows);
                System.out.println(Json.write(o));
                return;
            }
            System.out.printf("%s: %d tokens in batches of %d, %s; native = %s%n", mo.model.getFileName(), ids.length, batch, p, c.routingDescription());
            System.out.printf("| router | IS | max/mean | mean k | dropped | cross-device MB | cross-node MB | KL vs native | top-1 agree |%n");
            System.out.printf("|---|---|---|---|---|---|---|---|---|%n");
            for (Map<String, Object> o : rows) {
                System.out.printf("| %s | %.3f | %.2f | %.2f | %d | %.2f | %.2f | %.4f | %.1f%% |%n", o.get("name"), (double) o.get("imbalance_score"),
                        (double) o.get("max_over_mean"), (double) o.get("mean_k"), (long) o.get("dropped"), (long) o.get("cross_device_bytes") / 1e6,
                        (long) o.get("cross_node_bytes") / 1e6, (double) o.get("kl_vs_native"), 100 * (double) o.get("top1_agreement"));
            }
            System.err.printf("jmoe: %d routers x %d tokens in %.1f s%n", runs.size() + (extraReference ? 1 : 0), ids.length, secs);
        }
    }

    /** A run of {@code spec}; no "not the model's own router" warning, since comparing routers is the point here. */
    private Run newRun(Model m, String spec, Placement p) {
        Forward f = new Forward(m, Math.min(ctx, maxTokens));
        Router r = RoutingOptions.router(spec, m, p, true);
        f.setRouter(r);
        RoutingStats s = RoutingOptions.newStats(m, mo.model, spec, p);
        f.setRoutingListener(lr -> s.onLayer(lr.layer(), lr.plan()));
        return new Run(spec, f, s);
    }

    private int[] readText(Model m) {
        String text = Prompts.readText(input.file);
        if (m.tokenizer() == null) throw new JmoeException(mo.model.toString(), "checkpoint has no tokenizer: pass token ids with --tokens");
        int[] ids = m.tokenizer().encode(text, m.tokenizer().addsBos());
        if (ids.length == 0) throw new JmoeException(input.file.toString(), "text encodes to no tokens");
        return ids;
    }

    /** A file name for a router spec: characters other than letters, digits, '-', '_' and '.' become '_'. */
    static String fileName(String spec) {
        return spec.replaceAll("[^A-Za-z0-9._-]", "_");
    }

    static void logSoftmax(float[] z, int off, int n, double[] out) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, z[off + i]);
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.exp(z[off + i] - max);
        double lse = max + Math.log(s);
        for (int i = 0; i < n; i++) out[i] = z[off + i] - lse;
    }

    /** KL(p ‖ q) with log p given and q = softmax(z[off..off+n)). */
    static double kl(double[] logP, float[] z, int off, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, z[off + i]);
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.exp(z[off + i] - max);
        double lse = max + Math.log(s);
        double kl = 0;
        for (int i = 0; i < n; i++) {
            double lp = logP[i];
            if (lp > -700) kl += Math.exp(lp) * (lp - (z[off + i] - lse));
        }
        return Math.max(0, kl);
    }

    static int argmax(float[] a, int off, int n) {
        int b = 0;
        for (int i = 1; i < n; i++) if (a[off + i] > a[off + b]) b = i;
        return b;
    }
}
