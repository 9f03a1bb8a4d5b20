package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.sim.Hardware;
import org.jmoe.sim.ModelProfile;
import org.jmoe.sim.Plan;
import org.jmoe.sim.Popularity;
import org.jmoe.sim.SimDtype;
import org.jmoe.sim.SimRequest;
import org.jmoe.sim.SimResult;
import org.jmoe.sim.Simulator;
import org.jmoe.sim.TraceLoads;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** {@code jmoe sim}: the simulated time of one prefill, decode or training step of a model on a cluster (docs/SIMULATION.md). */
@Command(name = "sim", mixinStandardHelpOptions = true,
        description = "Simulate one prefill, decode or training step of an MoE model on cards of a hardware profile: per-stage breakdown, tokens/s, TTFT, TPOT, memory per device.")
final class SimCommand implements Runnable {
    @Mixin
    SimOptions so;

    @Option(names = "--phase", paramLabel = "P", defaultValue = "decode", description = "prefill, decode or train (default: ${DEFAULT-VALUE}).")
    String phase;

    @Option(names = "--batch", paramLabel = "B", defaultValue = "1", description = "Sequences in the step, over all cards (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seq", paramLabel = "S", defaultValue = "2048", description = "Tokens per sequence (prefill, train) or context length (decode) (default: ${DEFAULT-VALUE}).")
    int seq;

    @Option(names = "--plan", paramLabel = "PLAN", description = "Parallel plan, e.g. attn=dp2xtp4,experts=tp2xep4,shared=tp8 (default: attention dp and experts ep over every device).")
    String plan;

    @Option(names = "--schedule", paramLabel = "S", defaultValue = "serial", description = "serial or eps (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--chunks", paramLabel = "N", description = "EPS chunks (default: per layer, the fastest of N* = sqrt(C/k) and a few round counts).")
    Integer chunks;

    @Option(names = "--trace", paramLabel = "FILE", description = "Replay expert loads from a --stats file (docs/TRACE.md) instead of sampling them.")
    Path trace;

    @Option(names = "--json", description = "Print one JSON object: {plan, step_ms, tokens_per_s, tokens_per_s_per_card, ttft_ms, tpot_ms, memory_per_device_gb, fits, breakdown_ms, ...}.")
    boolean json;

    @Override
    public void run() {
        SimRequest q = request();
        SimResult r = Simulator.run(q);
        if (json) {
            System.out.println(Json.write(toJson(r, so)));
            return;
        }
        print(q, r);
    }

    SimRequest request() {
        ModelProfile m = so.modelProfile();
        Hardware h = so.hardwareProfile();
        SimRequest.Phase ph = switch (phase.strip().toLowerCase(Locale.ROOT)) {
            case "prefill" -> SimRequest.Phase.PREFILL;
            case "decode" -> SimRequest.Phase.DECODE;
            case "train", "training" -> SimRequest.Phase.TRAIN;
            default -> throw new JmoeException("--phase", "unknown phase '" + phase + "' (prefill, decode or train)");
        };
        SimRequest.Schedule sc = parseSchedule(schedule);
        if (batch < 1) throw new JmoeException("--batch", "must be >= 1, got " + batch);
        if (seq < 1) throw new JmoeException("--seq", "must be >= 1, got " + seq);
        if (chunks != null && (chunks < 1 || chunks > 1024)) throw new JmoeException("--chunks", "must be between 1 and 1024, got " + chunks);
        if (chunks != null && sc == SimRequest.Schedule.SERIAL && chunks > 1) throw new JmoeException("--chunks", "chunks apply to --schedule eps");
        int devices = so.cards * h.diesPerCard();
        Plan p = plan == null ? Plan.defaultFor(devices, m) : Plan.parse(plan, devices, so.deviceWords(h), m);
        TraceLoads t = null;
        if (trace != null) {
            if (!so.router.equals("native")) throw new JmoeException("--trace", "the trace fixes the loads: give --router or --trace, not both");
            t = TraceLoads.read(trace);
            if (t.experts() != m.experts()) throw new JmoeException(trace.toString(), "the trace has " + t.experts() + " experts, the model " + m.experts(), "field experts");
        }
        SimDtype d = so.weights(m, h);
        return new SimRequest(m, h, so.cards, ph, batch, seq, p, so.routerSpec(), sc, chunks == null ? 0 : chunks, d, so.kv(d),
                Popularity.parse(so.popularity), t, so.seed);
    }

    static SimRequest.Schedule parseSchedule(String s) {
        return switch (s.strip().toLowerCase(Locale.ROOT)) {
            case "serial" -> SimRequest.Schedule.SERIAL;
            case "eps" -> SimRequest.Schedule.EPS;
            default -> throw new JmoeException("--schedule", "unknown schedule '" + s + "' (serial or eps)");
        };
    }

    static Map<String, Object> toJson(SimResult r, SimOptions so) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("plan", r.plan());
        o.put("step_ms", r.stepMs());
        o.put("tokens_per_s", r.tokensPerS());
        o.put("tokens_per_s_per_card", r.tokensPerSPerCard());
        o.put("ttft_ms", r.ttftMs());
        o.put("tpot_ms", r.tpotMs());
        o.put("memory_per_device_gb", r.memoryPerDeviceGb());
        o.put("fits", r.fits());
        o.put("breakdown_ms", r.breakdownMs());
        o.put("model", so.model);
        o.put("hardware", so.hardware);
        o.put("cards", so.cards);
        o.put("phase", r.phase().name().toLowerCase(Locale.ROOT));
        o.put("batch", r.batch());
        o.put("seq", r.seq());
        o.put("router", r.router());
        o.put("schedule", r.schedule());
        o.put("chunks", r.chunks());
        o.put("routing", r.routing());
        return o;
    }

    private static void print(SimRequest q, SimResult r) {
        System.out.printf("%s on %d x %s (%d devices), %s, batch %d, seq %d, %s weights, %s KV%n", q.model().name(), q.cards(), q.hardware().name(),
                q.devices(), r.phase().name().toLowerCase(Locale.ROOT), r.batch(), r.seq(), q.dtype(), q.kvDtype());
        System.out.printf("plan %s, router %s, schedule %s%s%n", r.plan(), r.router(), r.schedule(), r.chunks() > 1 ? " (" + r.chunks() + " chunks)" : "");
        System.out.println("| stage | ms | share |");
        System.out.println("|---|---|---|");
        for (var e : r.breakdownMs().entrySet()) {
            System.out.printf("| %s | %.3f | %.1f%% |%n", e.getKey(), e.getValue(), 100 * e.getValue() / r.stepMs());
        }
        System.out.printf("step %.3f ms, %.1f tokens/s, %.1f tokens/s per card%n", r.stepMs(), r.tokensPerS(), r.tokensPerSPerCard());
        if (r.ttftMs() != null) System.out.printf("TTFT %.1f ms%n", r.ttftMs());
        if (r.tpotMs() != null) System.out.printf("TPOT %.1f ms%n", r.tpotMs());
        System.out.printf("memory per device %.2f GB (%s)%n", r.memoryPerDeviceGb(), r.fits() ? "fits" : "DOES NOT FIT");
        Map<String, Double> g = r.routing();
        System.out.printf("routing: max/mean %.3f, IS %.3f, mean k %.2f, dropped %.1f%%, remote %.1f%%, inter-node %.1f%%%n", g.get("max_over_mean"),
                g.get("imbalance_score"), g.get("mean_k"), 100 * g.get("dropped_share"), 100 * g.get("remote_share"), 100 * g.get("inter_node_share"));
    }
}
