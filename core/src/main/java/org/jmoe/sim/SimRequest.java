package org.jmoe.sim;

import org.jmoe.moe.RouterSpec;

/**
 * One simulation: a model on {@code cards} cards of a hardware profile, one step of a phase, a plan, a router and
 * schedule, the weight and KV dtypes, and where expert loads come from (a popularity, or a trace if not null).
 *
 * @param batch  sequences in the step, over all cards
 * @param seq    tokens per sequence (prefill, train) or context length (decode)
 * @param chunks EPS chunks; 0 picks N* = √(C/k)
 */
public record SimRequest(ModelProfile model, Hardware hardware, int cards, Phase phase, int batch, int seq, Plan plan,
                         RouterSpec router, Schedule schedule, int chunks, SimDtype dtype, SimDtype kvDtype,
                         Popularity popularity, TraceLoads trace, long seed) {

    public enum Phase { PREFILL, DECODE, TRAIN }

    public enum Schedule { SERIAL, EPS }

    public int devices() { return cards * hardware.diesPerCard(); }

    public SimRequest withPhase(Phase p, int b) {
        return new SimRequest(model, hardware, cards, p, b, seq, plan, router, schedule, chunks, dtype, kvDtype, popularity, trace, seed);
    }

    public SimRequest withBatch(int b) { return withPhase(phase, b); }

    public SimRequest withPlan(Plan p, Schedule s, int n) {
        return new SimRequest(model, hardware, cards, phase, batch, seq, p, router, s, n, dtype, kvDtype, popularity, trace, seed);
    }
}
