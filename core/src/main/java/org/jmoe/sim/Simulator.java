package org.jmoe.sim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Simulates one step (docs/SIMULATION.md): the batch is cut into microbatches (one per pipeline stage when pp > 1),
 * every stage costed by {@link StageModel} on its slowest device, and the pipeline scheduled:
 * <ul>
 *   <li>decode (steady state): each of pp microbatches of B/pp sequences advances one token per step; the slowest
 *       stage processes all of them, so step = pp · t_stage(B/pp) and TPOT = step;</li>
 *   <li>prefill and training (GPipe, m = pp microbatches): step = (m + pp − 1) · t_stage(B/m), the pp − 1 being
 *       the pipeline bubble;</li>
 *   <li>training then all-reduces gradients over each part's data-parallel group and runs the optimizer (a memory
 *       pass over weights, gradients and Adam state).</li>
 * </ul>
 */
public final class Simulator {
    private Simulator() {}

    public static SimResult run(SimRequest req) {
        return run(req, true);
    }

    /** @param withTtft whether a decode step also simulates the prefill behind its TTFT (the planner asks once per plan) */
    public static SimResult run(SimRequest req, boolean withTtft) {
        ModelProfile m = req.model();
        Plan plan = req.plan();
        RouterModel router = RouterModel.of(req.router(), m, plan.experts().ep());
        StageModel stages = new StageModel(req, router);
        int pp = plan.pp();
        int micro = pp;
        boolean decode = req.phase() == SimRequest.Phase.DECODE, train = req.phase() == SimRequest.Phase.TRAIN;
        double seqs = (double) req.batch() / micro;
        StageModel.Work w = decode
                ? new StageModel.Work(seqs, 1, req.seq(), true, false)
                : new StageModel.Work(seqs, req.seq(), req.seq() * (req.seq() + 1) / 2.0, false, train);
        double worst = -1;
        Breakdown slowest = null;
        for (int s = 0; s < pp; s++) {
            Breakdown b = new Breakdown();
            double t = stages.stage(s, w, b);
            if (t > worst) { worst = t; slowest = b; }
        }
        Breakdown step = new Breakdown();
        step.addAll(slowest, micro);
        if (!decode && pp > 1) step.add("pipeline_bubble", (pp - 1) * worst);
        if (train) trainingExtras(req, step);
        double stepS = step.total();
        double tokens = decode ? req.batch() : (double) req.batch() * req.seq();
        double n = Math.max(1, stages.routing[6]);
        Map<String, Double> routing = new LinkedHashMap<>();
        routing.put("max_over_mean", stages.routing[0] / n);
        routing.put("imbalance_score", stages.routing[1] / n);
        routing.put("mean_k", stages.routing[2] / n);
        routing.put("dropped_share", stages.routing[3] / n);
        routing.put("remote_share", stages.routing[4] / n);
        routing.put("inter_node_share", stages.routing[5] / n);
        double te = w.tokens() / plan.experts().dp();
        long maxRank = (long) Math.ceil(te * routing.get("mean_k") / plan.experts().ep() * Math.max(1, routing.get("max_over_mean")));
        double seqsPerReplica = Math.ceil((double) req.batch() / plan.attn().dp());
        double mem = MemoryModel.bytes(req, w.tokens(), seqsPerReplica, micro, maxRank);
        Double ttft = null, tpot = null;
        if (req.phase() == SimRequest.Phase.PREFILL) ttft = stepS * 1e3;
        if (decode) {
            tpot = stepS * 1e3;
            if (withTtft) ttft = run(req.withPhase(SimRequest.Phase.PREFILL, plan.attn().dp() * pp), false).stepMs();
        }
        return new SimResult(plan.text(), req.phase(), req.batch(), req.seq(), req.trace() != null ? "trace:" + req.trace().router() : req.router().text(),
                req.schedule().name().toLowerCase(java.util.Locale.ROOT), stages.chunksUsed(), stepS * 1e3, tokens / stepS,
                tokens / stepS / req.cards(), ttft, tpot, mem / 1e9, mem <= req.hardware().usableBytes(), step.millis(), routing);
    }

    /** Gradient all-reduce per data-parallel group and the optimizer pass, on the heaviest stage. */
    private static void trainingExtras(SimRequest req, Breakdown step) {
        ModelProfile m = req.model();
        Plan p = req.plan();
        Hardware hw = req.hardware();
        int S = p.stageDevices();
        double gb = req.dtype().bytes();
        double worstSync = 0, worstParams = 0;
        for (int s = 0; s < p.pp(); s++) {
            int[] r = StageModel.layers(m.layers(), p.pp(), s);
            int layers = r[1] - r[0];
            int dense = Math.max(0, Math.min(r[1], m.denseLayers()) - r[0]);
            int moe = m.experts() == 0 ? 0 : layers - dense;
            double attnP = layers * m.attentionParams() / p.attn().tp() + dense * m.denseFfnParams() / p.attn().tp()
                    + moe * m.routerParams() + (s == 0 || s == p.pp() - 1 ? (double) m.vocab() * m.hidden() / p.attn().tp() : 0);
            double expP = moe * (double) m.experts() / p.experts().ep() * m.expertParams() / p.experts().tp();
            double shP = moe * m.sharedParams() / p.shared().tp();
            double sync = Collectives.allReduce(hw, new Layout(p.attn(), S).dpGroup(s, 0, 0), attnP * gb)
                    + Collectives.allReduce(hw, new Layout(p.experts(), S).dpGroup(s, 0, 0), expP * gb)
                    + Collectives.allReduce(hw, new Layout(p.shared(), S).dpGroup(s, 0, 0), shP * gb);
            worstSync = Math.max(worstSync, sync);
            worstParams = Math.max(worstParams, attnP + expP + shP);
        }
        step.add("grad_sync", worstSync);
        // read weights, gradients, master copy and two moments; write weights, master copy and moments
        double perParam = 2 * gb + 2 * 12 + gb;
        step.add("optimizer", new Roofline(hw, req.dtype()).memory(worstParams * perParam, 3));
    }
}
