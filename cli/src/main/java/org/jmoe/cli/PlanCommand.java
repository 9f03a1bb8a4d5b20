package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.sim.Hardware;
import org.jmoe.sim.ModelProfile;
import org.jmoe.sim.Plan;
import org.jmoe.sim.Planner;
import org.jmoe.sim.Popularity;
import org.jmoe.sim.SimDtype;
import org.jmoe.sim.SimRequest;
import org.jmoe.sim.SimResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code jmoe plan}: the best deployments of a model on a number of cards under latency limits (docs/SIMULATION.md). */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Search parallel plans, schedules and batch sizes for the most tokens/s per card under TPOT/TTFT limits; writes a frontier plot.")
final class PlanCommand implements Runnable {
    @Mixin
    SimOptions so;

    @Option(names = "--tpot", paramLabel = "MS", description = "Time-per-output-token limit, e.g. 100ms or 0.1s (searches decode).")
    String tpot;

    @Option(names = "--ttft", paramLabel = "MS", description = "Time-to-first-token limit (alone: searches prefill).")
    String ttft;

    @Option(names = "--seq", paramLabel = "S", defaultValue = "2048", description = "Context length (decode) or prompt length (prefill) (default: ${DEFAULT-VALUE}).")
    int seq;

    @Option(names = "--max-batch", paramLabel = "B", defaultValue = "8192", description = "Largest batch tried (default: ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--top", paramLabel = "N", defaultValue = "10", description = "Plans printed (default: ${DEFAULT-VALUE}).")
    int top;

    @Option(names = "--out", paramLabel = "PNG", description = "Write the throughput/latency frontier plot here.")
    Path out;

    @Option(names = "--json", description = "Print one JSON object: {\"plans\": [{plan, batch, chunks, tokens_per_s_per_card, ttft_ms, tpot_ms, memory_per_device_gb, fits}]}, best first.")
    boolean json;

    @Override
    public void run() {
        Double tp = tpot == null ? null : millis(tpot, "--tpot"), tf = ttft == null ? null : millis(ttft, "--ttft");
        Planner.Limits limits = new Planner.Limits(tp, tf);
        if (tp == null && tf == null) throw new JmoeException("--tpot/--ttft", "give a TPOT limit (decode) and/or a TTFT limit (prefill)");
        if (seq < 1) throw new JmoeException("--seq", "must be >= 1, got " + seq);
        if (maxBatch < 1 || maxBatch > 1 << 20) throw new JmoeException("--max-batch", "must be between 1 and 1048576, got " + maxBatch);
        if (top < 1) throw new JmoeException("--top", "must be >= 1, got " + top);
        ModelProfile m = so.modelProfile();
        Hardware h = so.hardwareProfile();
        SimDtype d = so.weights(m, h);
        int devices = so.cards * h.diesPerCard();
        SimRequest base = new SimRequest(m, h, so.cards, limits.phase(), 1, seq, Plan.defaultFor(devices, m), so.routerSpec(),
                SimRequest.Schedule.SERIAL, 0, d, so.kv(d), Popularity.parse(so.popularity), null, so.seed);
        long t0 = System.nanoTime();
        int jobs = Planner.jobs(base);
        List<Planner.Candidate> ranked = Planner.search(base, limits, maxBatch, n -> { });
        double secs = (System.nanoTime() - t0) / 1e9;
        List<Planner.Candidate> ok = new ArrayList<>();
        for (Planner.Candidate c : ranked) if (c.result() != null) ok.add(c);
        String latency = limits.phase() == SimRequest.Phase.DECODE ? "TPOT" : "TTFT";
        double limit = limits.phase() == SimRequest.Phase.DECODE ? tp : tf;
        if (out != null) {
            FrontierPlot.write(out, ranked, latency, limit, m.name() + " on " + so.cards + " x " + h.name() + " (" + d + "), "
                    + latency + " limit " + Math.round(limit) + " ms");
        }
        if (ok.isEmpty()) {
            throw new JmoeException("plan", "no plan of " + m.name() + " on " + so.deviceWords(h) + " " + h.name() + " meets "
                    + (tp != null ? "TPOT " + tp + " ms" : "") + (tp != null && tf != null ? " and " : "") + (tf != null ? "TTFT " + tf + " ms" : "")
                    + " and fits in memory (" + jobs + " plan x schedule candidates tried)");
        }
        if (json) {
            List<Map<String, Object>> plans = new ArrayList<>();
            for (Planner.Candidate c : ok.subList(0, Math.min(top, ok.size()))) plans.add(entry(c));
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("plans", plans);
            o.put("model", so.model);
            o.put("hardware", so.hardware);
            o.put("cards", so.cards);
            o.put("dtype", d.label());
            o.put("phase", limits.phase().name().toLowerCase(Locale.ROOT));
            o.put("tpot_limit_ms", tp);
            o.put("ttft_limit_ms", tf);
            o.put("candidates", jobs);
            o.put("search_s", secs);
            System.out.println(Json.write(o));
            return;
        }
        System.out.printf("%s on %d x %s (%d devices), %s weights, %s KV, router %s, seq %d; %s%s%n", m.name(), so.cards, h.name(), devices, d,
                so.kv(d), so.router, seq, tp != null ? "TPOT <= " + tp + " ms" : "", tf != null ? (tp != null ? ", " : "") + "TTFT <= " + tf + " ms" : "");
        System.out.printf("%d plan x schedule candidates searched in %.1f s; %d meet the limits%n", jobs, secs, ok.size());
        System.out.println("| # | plan | schedule | batch | tokens/s per card | TTFT ms | TPOT ms | memory/device GB |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        int i = 0;
        for (Planner.Candidate c : ok.subList(0, Math.min(top, ok.size()))) {
            SimResult r = c.result();
            System.out.printf("| %d | %s | %s | %d | %.1f | %s | %s | %.1f |%n", ++i, r.plan(), r.schedule() + (r.chunks() > 1 ? " x" + r.chunks() : ""),
                    r.batch(), r.tokensPerSPerCard(), fmt(r.ttftMs()), fmt(r.tpotMs()), r.memoryPerDeviceGb());
        }
        if (out != null) System.err.printf("jmoe: wrote %s%n", out);
    }

    private static Map<String, Object> entry(Planner.Candidate c) {
        SimResult r = c.result();
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("plan", r.plan());
        o.put("schedule", r.schedule());
        o.put("batch", r.batch());
        o.put("chunks", r.chunks());
        o.put("tokens_per_s_per_card", r.tokensPerSPerCard());
        o.put("ttft_ms", r.ttftMs());
        o.put("tpot_ms", r.tpotMs());
        o.put("memory_per_device_gb", r.memoryPerDeviceGb());
        o.put("fits", r.fits());
        return o;
    }

    private static String fmt(Double v) { return v == null ? "-" : String.format(Locale.ROOT, "%.1f", v); }

    /** "100ms", "100", "0.1s" → milliseconds. */
    static double millis(String s, String flag) {
        String t = s.strip().toLowerCase(Locale.ROOT);
        double f = 1;
        if (t.endsWith("ms")) t = t.substring(0, t.length() - 2);
        else if (t.endsWith("s")) { t = t.substring(0, t.length() - 1); f = 1000; }
        try {
            double v = Double.parseDouble(t.strip()) * f;
            if (!(v > 0) || Double.isInfinite(v)) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new JmoeException(flag, "not a positive duration: '" + s + "' (e.g. 100ms or 0.1s)");
        }
    }
}
