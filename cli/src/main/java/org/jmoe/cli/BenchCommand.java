package org.jmoe.cli;

import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code jmoe bench}: prompt processing and generation speed, as llama-bench measures them: pp = one batch of
 * P random tokens from an empty cache; tg = N single-token steps from an empty cache; mean and standard
 * deviation over R repetitions after three warm-up runs (llama-bench does one; the JVM's JIT is still compiling
 * the kernels during the first).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure prompt-processing (pp) and generation (tg) tokens/s, llama-bench style.")
final class BenchCommand implements Runnable {
    /** Untimed runs before the R timed ones. */
    private static final int WARMUP = 3;

    @Mixin
    ModelOptions mo;

    @Mixin
    RoutingOptions ro;

    @Option(names = {"-p", "--n-prompt"}, paramLabel = "P", defaultValue = "128", description = "Prompt tokens per pp run; 0 skips pp (default: ${DEFAULT-VALUE}).")
    int p;

    @Option(names = {"-n", "--n-gen"}, paramLabel = "N", defaultValue = "32", description = "Generated tokens per tg run; 0 skips tg (default: ${DEFAULT-VALUE}).")
    int n;

    @Option(names = {"-r", "--repetitions"}, paramLabel = "R", defaultValue = "5", description = "Repetitions (default: ${DEFAULT-VALUE}).")
    int r;

    @Option(names = "--bandwidth", paramLabel = "GB/S", defaultValue = "30", description = "Memory bandwidth for the tg roofline (default: ${DEFAULT-VALUE}).")
    double bandwidth;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public void run() {
        if (p < 0 || n < 0 || (p == 0 && n == 0)) throw new IllegalArgumentException("--n-prompt/--n-gen: need P >= 0, N >= 0 and not both 0");
        if (r < 1) throw new IllegalArgumentException("--repetitions: must be >= 1, got " + r);
        try (Model m = mo.open()) {
            ModelConfig c = m.config();
            int ctx = Math.max(p, n) + 1;
            Forward f = new Forward(m, ctx);
            var stats = ro.apply(m, mo.model, f, json);
            SplittableRandom rnd = new SplittableRandom(1234);
            int[] prompt = new int[Math.max(p, 1)];
            for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(c.vocab);
            float[] logits = new float[c.vocab];
            double[] pp = new double[r], tg = new double[r];
            for (int rep = -WARMUP; rep < r; rep++) {
                if (rep == 0) {
                    f.resetStageTimes();
                    if (ro.backend != null) { ro.backend.times().reset(); ro.backend.bytes().reset(); }
                }
                if (p > 0) {
                    f.reset();
                    long t0 = System.nanoTime();
                    f.eval(prompt, logits, false);
                    long dt = System.nanoTime() - t0;
                    if (rep >= 0) pp[rep] = p * 1e9 / dt;
                }
                if (n > 0) {
                    f.reset();
                    int[] one = {prompt[0]};
                    long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        f.eval(one, logits, false);
                        one[0] = argmax(logits);
                    }
                    long dt = System.nanoTime() - t0;
                    if (rep >= 0) tg[rep] = n * 1e9 / dt;
                }
                if (!json && rep >= 0) System.err.printf("jmoe: rep %d/%d%s%s%n", rep + 1, r, p > 0 ? String.format(", pp%d %.2f t/s", p, pp[rep]) : "",
                        n > 0 ? String.format(", tg%d %.2f t/s", n, tg[rep]) : "");
            }
            long bytesPerToken = bytesPerToken(m);
            ro.finish(stats);
            Forward.StageTimes st = f.stageTimes();
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("model", mo.model.toString());
            o.put("architecture", c.archDisplay);
            o.put("weight_bytes", m.weightBytes());
            o.put("threads", mo.threadCount());
            o.put("n_prompt", p);
            o.put("n_gen", n);
            o.put("repetitions", r);
            if (p > 0) {
                o.put("pp_tokens_per_s", mean(pp));
                o.put("pp_tokens_per_s_stddev", stddev(pp));
            }
            if (n > 0) {
                o.put("tg_tokens_per_s", mean(tg));
                o.put("tg_tokens_per_s_stddev", stddev(tg));
                o.put("tg_bytes_per_token", bytesPerToken);
                o.put("tg_roofline_tokens_per_s", bandwidth * 1e9 / bytesPerToken);
                o.put("tg_roofline_fraction", mean(tg) / (bandwidth * 1e9 / bytesPerToken));
            }
            o.put("router", ro.router);
            if (ro.backend != null) {
                var mt = ro.backend.times();
                o.put("devices", ro.devices);
                o.put("schedule", ro.schedule);
                o.put("chunks", ro.backend.chunks());
                o.put("transport", ro.backend.transport());
                o.put("stage_times", RoutingOptions.stageTimes(ro.backend, f));
                o.put("device_busy_max_over_mean", mt.busyMaxOverMean());
                o.put("overlap_fraction", mt.overlapFraction());
                o.put("intra_node_bytes", ro.backend.bytes().intraNodeBytes());
                o.put("inter_node_bytes", ro.backend.bytes().interNodeBytes());
            }
            o.put("attention_ms", st.attentionNanos() / 1e6);
            o.put("attention_core_ms", st.attentionCoreNanos() / 1e6);
            if (c.experts > 0) {
                o.put("route_ms", st.routeNanos() / 1e6);
                o.put("experts_ms", st.expertNanos() / 1e6);
                o.put("moe_layers_ms", st.moeNanos() / 1e6);
                o.put("route_fraction_of_moe", st.moeNanos() == 0 ? 0 : (double) st.routeNanos() / st.moeNanos());
            }
            o.put("java", System.getProperty("java.version"));
            o.put("cpu_cores", Runtime.getRuntime().availableProcessors());
            if (json) {
                System.out.println(Json.write(o));
                return;
            }
            System.out.printf("| model | arch | size | threads | test | tokens/s |%n|---|---|---|---|---|---|%n");
            String size = String.format("%.2f GiB", m.weightBytes() / (double) (1L << 30));
            if (p > 0) System.out.printf("| %s | %s | %s | %d | pp%d | %.2f ± %.2f |%n", mo.model.getFileName(), c.archDisplay, size, mo.threadCount(), p, mean(pp), stddev(pp));
            if (n > 0) System.out.printf("| %s | %s | %s | %d | tg%d | %.2f ± %.2f |%n", mo.model.getFileName(), c.archDisplay, size, mo.threadCount(), n, mean(tg), stddev(tg));
            if (n > 0) System.out.printf("tg roofline: %.1f MB of weights per token at %.0f GB/s = %.1f tokens/s; measured %.0f%% of it%n",
                    bytesPerToken / 1e6, bandwidth, bandwidth * 1e9 / bytesPerToken, 100 * mean(tg) / (bandwidth * 1e9 / bytesPerToken));
            if (ro.backend != null) System.out.printf("mesh: %d devices, %s schedule%s, busiest device %.2fx the mean, %.0f%% of dispatch/combine hidden behind compute, %.1f MB intra-node, %.1f MB inter-node%n",
                    ro.devices, ro.schedule, (ro.backend.pipelined() ? " (" + ro.backend.chunks() + " chunks)" : "") + " over " + ro.backend.transport(),
                    ro.backend.times().busyMaxOverMean(), 100 * ro.backend.times().overlapFraction(),
                    ro.backend.bytes().intraNodeBytes() / 1e6, ro.backend.bytes().interNodeBytes() / 1e6);
            if (c.experts > 0 && st.moeNanos() > 0) System.out.printf("router %s: route (gate GEMM + %s) %.1f ms = %.1f%% of MoE time, experts %.1f ms (all measured runs)%n",
                    ro.router, "selection", st.routeNanos() / 1e6, 100.0 * st.routeNanos() / st.moeNanos(), st.expertNanos() / 1e6);
        }
    }

    /** Weight bytes one decode step reads: everything but the unused experts and all but one embedding row. */
    static long bytesPerToken(Model m) {
        ModelConfig c = m.config();
        long total = 0;
        for (Tensor t : m.tensors().values()) {
            long b = t.byteSize();
            if (t == m.tokenEmbd() && m.output() != m.tokenEmbd()) b = t.rowBytes();
            else if (t.name().contains("_exps") || t.name().contains(".experts.")) b = b / c.experts * c.expertsUsed;
            total += b;
        }
        return total;
    }

    static int argmax(float[] a) {
        int b = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
        return b;
    }

    static double mean(double[] a) {
        double s = 0;
        for (double v : a) s += v;
        return s / a.length;
    }

    static double stddev(double[] a) {
        if (a.length < 2) return 0;
        double m = mean(a), s = 0;
        for (double v : a) s += (v - m) * (v - m);
        return Math.sqrt(s / (a.length - 1));
    }
}
