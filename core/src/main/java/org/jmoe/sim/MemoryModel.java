package org.jmoe.sim;

/**
 * Bytes a device holds, on the busiest device of the heaviest pipeline stage.
 * <ul>
 *   <li>weights: attention (split by attention tp), this rank's routed experts (E/ep of them, split by expert tp), the
 *       shared expert (split by its tp), dense FFN layers, the router (replicated), and the embedding and LM head
 *       (split by attention tp, on the first and last stage; kept at 16 bits unless the weights are f32);</li>
 *   <li>KV cache: the replica's sequences x context x layers x K/V elements, in the KV dtype; GQA splits the kv heads
 *       over attention tp (a rank keeps ⌈kv_heads/tp⌉ heads), MLA's latent is kept whole on every rank;</li>
 *   <li>inference workspace: a few activation buffers of the microbatch and the busiest rank's expert rows;</li>
 *   <li>training: gradients in the weight dtype, optimizer state (fp32 master copy and Adam moments: 12 bytes a
 *       parameter, 8 for f32 weights that need no master copy), and activations kept for the backward pass —
 *       (10 + 24/tp) bytes per token per hidden element per layer (Korthikanti et al. 2022, with flash attention),
 *       plus the expert rows, for every microbatch in flight.</li>
 * </ul>
 */
final class MemoryModel {
    private MemoryModel() {}

    /** Bytes per device; {@code seqsPerReplica} sequences of {@code context} tokens per attention replica. */
    static double bytes(SimRequest req, double tokensPerMicrobatch, double seqsPerReplica, int microbatches, long maxRankRows) {
        ModelProfile m = req.model();
        Plan p = req.plan();
        double wb = req.dtype().bytes();
        double eb = req.dtype() == SimDtype.F32 ? 4 : 2;
        double worst = 0;
        for (int s = 0; s < p.pp(); s++) {
            int[] r = StageModel.layers(m.layers(), p.pp(), s);
            int layers = r[1] - r[0];
            int dense = Math.max(0, Math.min(r[1], m.denseLayers()) - r[0]);
            int moe = m.experts() == 0 ? 0 : layers - dense;
            double params = layers * m.attentionParams() / p.attn().tp()
                    + moe * ((double) m.experts() / p.experts().ep() * m.expertParams() / p.experts().tp() + m.sharedParams() / p.shared().tp())
                    + dense * m.denseFfnParams() / p.attn().tp();
            double weights = params * wb + moe * m.routerParams() * eb;
            double embed = 0;
            if (s == 0) embed += (double) m.vocab() * m.hidden() / p.attn().tp() * eb;
            if (s == p.pp() - 1 && (!m.tiedEmbeddings() || p.pp() > 1)) embed += (double) m.vocab() * m.hidden() / p.attn().tp() * eb;
            double kvShare = m.mla() != null ? 1 : Math.ceil((double) m.kvHeads() / p.attn().tp()) / m.kvHeads();
            double act = req.dtype().floatActivations() ? 4 : 2;
            double Ta = tokensPerMicrobatch / p.attn().dp();
            double ffn = (double) m.expertFfn() / p.experts().tp();
            double bytes = weights + embed;
            if (req.phase() == SimRequest.Phase.TRAIN) {
                double all = params + moe * m.routerParams() + embed / eb;
                bytes += all * wb + all * (req.dtype() == SimDtype.F32 ? 8 : 12);
                double perLayer = Ta * m.hidden() * (10 + 24.0 / p.attn().tp()) * act / 2
                        + (double) maxRankRows / Math.max(1, microbatches) * (2 * m.hidden() + 3 * ffn) * act;
                bytes += perLayer * layers * microbatches;
            } else {
                bytes += seqsPerReplica * req.seq() * layers * m.kvElementsPerToken() * kvShare * req.kvDtype().bytes();
                bytes += Ta * m.hidden() * act * 8 + (double) maxRankRows / Math.max(1, microbatches) * (2 * m.hidden() + 3 * ffn) * act;
            }
            worst = Math.max(worst, bytes);
        }
        return worst;
    }
}
