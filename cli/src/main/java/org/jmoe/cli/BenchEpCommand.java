package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.moe.Placement;
import org.jmoe.moe.RouterSpec;
import org.jmoe.parallel.MeshExperts;
import org.jmoe.parallel.ParallelExperts;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code jmoe bench-ep}: prefill and decode throughput of one model on an expert-parallel mesh, for every
 * schedule × router asked for, side by side in one run (the same random prompt for all), with the mesh's
 * device-time balance and the share of dispatch/combine hidden behind compute.
 */
@Command(name = "bench-ep", mixinStandardHelpOptions = true,
        description = "Expert-parallel throughput per schedule x router on a mesh of --devices (pp and tg tokens/s, device balance, overlap).")
final class BenchEpCommand implements Runnable {
    @Mixin
    ModelOptions mo;

    @Option(names = "--devices", paramLabel = "D", defaultValue = "4", description = "Devices (default: ${DEFAULT-VALUE}).")
    int devices;

    @Option(names = "--nodes", paramLabel = "G", defaultValue = "1", description = "Nodes (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Option(names = "--placement", paramLabel = "P", defaultValue = "contiguous", description = "contiguous or round-robin (default: ${DEFAULT-VALUE}).")
    String placement;

    @Mixin
    TransportOptions to;

    @Option(names = "--schedules", paramLabel = "LIST", defaultValue = "serial,eps", description = "Schedules to compare (default: ${DEFAULT-VALUE}).")
    String schedules;

    @Option(names = "--routers", paramLabel = "SPECS", defaultValue = "native", description = "Router specs to compare (default: ${DEFAULT-VALUE}).")
    String routers;

    @Option(names = {"-p", "--n-prompt"}, paramLabel = "P", defaultValue = "512", description = "Prompt tokens per pp run; 0 skips pp (default: ${DEFAULT-VALUE}).")
    int p;

    @Option(names = {"-n", "--n-gen"}, paramLabel = "N", defaultValue = "16", description = "Generated tokens per tg run; 0 skips tg (default: ${DEFAULT-VALUE}).")
    int n;

    @Option(names = {"-r", "--repetitions"}, paramLabel = "R", defaultValue = "3", description = "Repetitions after one warm-up (default: ${DEFAULT-VALUE}).")
    int r;

    @Option(names = "--warmup", paramLabel = "W", defaultValue = "1", description = "Unmeasured runs before the repetitions (worker JVMs compile their kernels in the first) (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--transport-warmup", paramLabel = "MS", defaultValue = "8000",
            description = "Worker JVMs: echo layer-sized messages to every worker for this long before the first run, so the transport's code is compiled at both ends (0: none) (default: ${DEFAULT-VALUE}).")
    long transportWarmupMs;

    @Option(names = "--json", description = "Print one JSON object: {\"runs\": [{\"schedule\", \"router\", ...}]}.")
    boolean json;

    @Override
    public void run() {
        if (p < 0 || n < 0 || (p == 0 && n == 0)) throw new JmoeException("--n-prompt/--n-gen", "need P >= 0, N >= 0 and not both 0");
        if (r < 1) throw new JmoeException("--repetitions", "must be >= 1, got " + r);
        if (warmup < 0) throw new JmoeException("--warmup", "must be >= 0, got " + warmup);
        if (transportWarmupMs < 0) throw new JmoeException("--transport-warmup", "must be >= 0, got " + transportWarmupMs);
        String transport = to.resolved();
        to.planner();
        List<MeshExperts.Schedule> sched = new ArrayList<>();
        for (String s : schedules.split(",")) {
            sched.add(switch (s.strip()) {
                case "serial" -> MeshExperts.Schedule.SERIAL;
                case "eps" -> MeshExperts.Schedule.EPS;
                default -> throw new JmoeException("--schedules", "unknown schedule '" + s + "' (serial or eps)");
            });
        }
        List<RouterSpec> specs = RouterSpec.parseList(routers, "--routers");
        try (Model m = mo.open(); TransportOptions stages = to) {
            ModelConfig c = m.config();
            if (c.experts == 0) throw new JmoeException(mo.model.toString(), "the model has no experts to place on devices");
            Placement.checkMesh(devices, nodes);
            Placement pl = Placement.named(placement, c.experts, devices, nodes);
            SplittableRandom rnd = new SplittableRandom(1234);
            int[] prompt = new int[Math.max(p, 1)];
            for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(c.vocab);
            List<Map<String, Object>> runs = new ArrayList<>();
            for (RouterSpec spec : specs) {
                for (MeshExperts.Schedule s : sched) {
                    try {
                        ParallelExperts me = to.open(m, mo.model, pl, s, mo.threadCount());
                        if (me instanceof org.jmoe.cluster.RemoteExperts re && transportWarmupMs > 0 && runs.isEmpty()) {
                            // one worker's rows of a prefill layer (the largest message of the run), at most 8 MB
                            long rows = (long) Math.max(p, 1) * Math.max(1, c.expertsUsed) / Math.max(1, devices);
                            int bytes = (int) Math.min(8L << 20, Math.max(4096, rows * c.hidden * 4));
                            int rounds = re.warmUp(transportWarmupMs, bytes);
                            if (!json) System.err.printf("jmoe: transport warm-up: %d rounds of %d KB to each worker%n", rounds, bytes >> 10);
                        }
                        Forward f = new Forward(m, Math.max(p, n) + 1);
                        f.setRouter(RoutingOptions.router(spec.text(), m, pl, true));
                        f.setExpertBackend(me);
                        double[] pp = new double[r], tg = new double[r];
                        float[] logits = new float[c.vocab];
                        for (int rep = -warmup; rep < r; rep++) {
                            if (rep == 0) { me.times().reset(); me.bytes().reset(); f.resetStageTimes(); }
                            if (p > 0) {
                                f.reset();
                                long t0 = System.nanoTime();
                                f.eval(prompt, logits, false);
                                if (rep >= 0) pp[rep] = p * 1e9 / (System.nanoTime() - t0);
                            }
                            if (n > 0) {
                                f.reset();
                                int[] one = {prompt[0]};
                                long t0 = System.nanoTime();
                                for (int i = 0; i < n; i++) {
                                    f.eval(one, logits, false);
                                    one[0] = BenchCommand.argmax(logits);
                                }
                                if (rep >= 0) tg[rep] = n * 1e9 / (System.nanoTime() - t0);
                            }
                        }
                        Map<String, Object> o = new LinkedHashMap<>();
                        o.put("schedule", s.name().toLowerCase(java.util.Locale.ROOT));
                        o.put("router", spec.text());
                        o.put("devices", devices);
                        o.put("transport", transport);
                        if (p > 0) {
                            o.put("pp_tokens_per_s", BenchCommand.mean(pp));
                            o.put("pp_tokens_per_s_stddev", BenchCommand.stddev(pp));
                        }
                        if (n > 0) {
                            o.put("tg_tokens_per_s", BenchCommand.mean(tg));
                            o.put("tg_tokens_per_s_stddev", BenchCommand.stddev(tg));
                        }
                        o.put("device_busy_max_over_mean", me.times().busyMaxOverMean());
                        o.put("overlap_fraction", me.times().overlapFraction());
                        o.put("chunks", me.chunks());
                        o.put("intra_node_bytes", me.bytes().intraNodeBytes());
                        o.put("inter_node_bytes", me.bytes().interNodeBytes());
                        o.put("stage_times", RoutingOptions.stageTimes(me, f));
                        runs.add(o);
                        if (!json) System.err.printf("jmoe: %s / %s done%n", spec.text(), o.get("schedule"));
                    } finally {
                        to.release();
                    }
                }
            }
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("model", mo.model.toString());
                o.put("threads", mo.threadCount());
                o.put("nodes", nodes);
                o.put("placement", pl.name());
                o.put("transport", transport);
                o.put("n_prompt", p);
                o.put("n_gen", n);
                o.put("runs", runs);
                System.out.println(Json.write(o));
                return;
            }
            System.out.printf("%s on %s over %s, %d threads%n", mo.model.getFileName(), pl, transport, mo.threadCount());
            System.out.println("| router | schedule | pp" + p + " t/s | tg" + n + " t/s | device busy max/mean | overlap | intra-node MB | inter-node MB |");
            System.out.println("|---|---|---|---|---|---|---|---|");
            for (Map<String, Object> o : runs) {
                System.out.printf("| %s | %s | %s | %s | %.2f | %.0f%% | %.1f | %.1f |%n", o.get("router"), o.get("schedule"),
                        p > 0 ? String.format("%.1f ± %.1f", (double) o.get("pp_tokens_per_s"), (double) o.get("pp_tokens_per_s_stddev")) : "-",
                        n > 0 ? String.format("%.1f ± %.1f", (double) o.get("tg_tokens_per_s"), (double) o.get("tg_tokens_per_s_stddev")) : "-",
                        (double) o.get("device_busy_max_over_mean"), 100 * (double) o.get("overlap_fraction"),
                        (long) o.get("intra_node_bytes") / 1e6, (long) o.get("inter_node_bytes") / 1e6);
            }
        }
    }
}
