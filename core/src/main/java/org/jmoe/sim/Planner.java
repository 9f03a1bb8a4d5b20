package org.jmoe.sim;

import org.jmoe.JmoeException;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * Searches deployments of a model on a number of cards: every plan (pipeline degree up to 4; attention dp x tp with
 * tp dividing the heads; experts tp x ep x dp with ep dividing the experts; the shared expert with attention's layout
 * or tensor-parallel over the stage), both schedules (serial, and EPS with its chunk count chosen per layer), and for
 * each the largest batch that meets the limits and fits in memory. Decode is searched when a TPOT limit is given
 * (TTFT, if limited too, is the plan's prefill of one sequence per attention replica); prefill when only TTFT is.
 * Plans are ranked by tokens/s per card.
 */
public final class Planner {
    private Planner() {}

    /** Latency limits in milliseconds; null when not limited. */
    public record Limits(Double tpotMs, Double ttftMs) {
        public SimRequest.Phase phase() { return tpotMs != null ? SimRequest.Phase.DECODE : SimRequest.Phase.PREFILL; }
    }

    /** One evaluated (plan, schedule, batch). */
    public record Point(String plan, String schedule, int batch, double latencyMs, double tokensPerSPerCard, boolean feasible) { }

    /** The best batch of one plan and schedule, with every batch the search tried. */
    public record Candidate(Plan plan, SimRequest.Schedule schedule, SimResult result, List<Point> tried) { }

    /** Every plan the search considers for {@code devices} devices. */
    public static List<Plan> plans(int devices, ModelProfile m) {
        List<Plan> out = new ArrayList<>();
        for (int pp : divisors(devices)) {
            if (pp > 4 || pp > m.layers()) continue;
            int S = devices / pp;
            for (int tp : divisors(S)) {
                if (m.heads() % tp != 0) continue;
                Plan.Part attn = new Plan.Part(S / tp, tp, 1, pp);
                for (int etp : divisors(S)) {
                    if (m.expertFfn() % etp != 0) continue;
                    for (int ep : divisors(S / etp)) {
                        if (m.experts() % ep != 0) continue;
                        Plan.Part ex = new Plan.Part(S / etp / ep, etp, ep, pp);
                        out.add(new Plan(attn, ex, attn));
                        if (m.sharedFfn() > 0 && S > 1 && tp != S && m.sharedFfn() % S == 0) out.add(new Plan(attn, ex, new Plan.Part(1, S, 1, pp)));
                    }
                }
            }
        }
        return out;
    }

    /**
     * Runs the search from {@code base} (its plan, schedule, phase and batch are replaced); {@code progress} gets the
     * count of candidates done.
     */
    public static List<Candidate> search(SimRequest base, Limits limits, int maxBatch, IntConsumer progress) {
        if (limits.tpotMs() == null && limits.ttftMs() == null) throw new JmoeException("--tpot/--ttft", "give a TPOT limit (decode) and/or a TTFT limit");
        List<Plan> plans = plans(base.devices(), base.model());
        List<Object[]> jobs = new ArrayList<>();
        for (Plan p : plans) for (SimRequest.Schedule s : SimRequest.Schedule.values()) jobs.add(new Object[]{p, s});
        AtomicInteger done = new AtomicInteger();
        List<Candidate> found = jobs.parallelStream().map(j -> {
            Candidate c = best(base, (Plan) j[0], (SimRequest.Schedule) j[1], limits, maxBatch);
            progress.accept(done.incrementAndGet());
            return c;
        }).toList();
        List<Candidate> out = new ArrayList<>(found);
        // best throughput first; on a tie (EPS that chose one chunk in decode) the shorter TTFT first
        out.sort(Comparator.comparing((Candidate c) -> c.result() == null ? -1 : c.result().tokensPerSPerCard()).reversed()
                .thenComparing(c -> c.result() == null || c.result().ttftMs() == null ? Double.MAX_VALUE : c.result().ttftMs()));
        return out;
    }

    /** Jobs the search runs ({@link #search}'s progress counts up to it). */
    public static int jobs(SimRequest base) {
        return plans(base.devices(), base.model()).size() * SimRequest.Schedule.values().length;
    }

    /** The largest feasible batch of one plan and schedule (doubling, then bisection); result null if even 1 fails. */
    static Candidate best(SimRequest base, Plan plan, SimRequest.Schedule sched, Limits limits, int maxBatch) {
        SimRequest.Phase phase = limits.phase();
        SimRequest r0 = base.withPlan(plan, sched, 0).withPhase(phase, 1);
        List<Point> tried = new ArrayList<>();
        if (phase == SimRequest.Phase.DECODE && limits.ttftMs() != null) {
            SimResult pre = Simulator.run(r0.withPhase(SimRequest.Phase.PREFILL, plan.attn().dp() * plan.pp()), false);
            if (pre.stepMs() > limits.ttftMs()) return new Candidate(plan, sched, null, tried);
        }
        int lo = 0, hi = -1;
        SimResult best = null;
        for (int b = 1; b <= maxBatch; b *= 2) {
            SimResult r = eval(r0, b, limits, tried);
            if (r == null) { hi = b; break; }
            lo = b;
            best = r;
        }
        if (best == null) return new Candidate(plan, sched, null, tried);
        if (hi < 0) hi = Math.min(maxBatch, lo * 2) + 1;
        while (hi - lo > 1 && hi - lo > lo / 64) {
            int mid = (lo + hi) >>> 1;
            SimResult r = eval(r0, mid, limits, tried);
            if (r == null) hi = mid;
            else { lo = mid; best = r; }
        }
        SimResult full = Simulator.run(r0.withBatch(best.batch()), true);
        return new Candidate(plan, sched, full, tried);
    }

    private static SimResult eval(SimRequest r0, int batch, Limits limits, List<Point> tried) {
        SimResult r = Simulator.run(r0.withBatch(batch), false);
        double lat = r.phase() == SimRequest.Phase.DECODE ? r.tpotMs() : r.ttftMs();
        double limit = r.phase() == SimRequest.Phase.DECODE ? limits.tpotMs() : limits.ttftMs();
        boolean ok = r.fits() && lat <= limit;
        tried.add(new Point(r.plan(), r.schedule(), batch, lat, r.tokensPerSPerCard(), ok));
        return ok ? r : null;
    }

    static List<Integer> divisors(int n) {
        List<Integer> d = new ArrayList<>();
        for (int i = 1; i <= n; i++) if (n % i == 0) d.add(i);
        return d;
    }
}
