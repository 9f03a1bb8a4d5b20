package org.jmoe.sim;

import java.util.Map;

/**
 * A model as the cost model sees it: sizes only (no weights). Built in ({@link ModelProfiles}) or taken from any
 * config jmoe can load. Parameter counts are computed from the sizes; norms and biases are left out (they are
 * below 0.1% of any of these models).
 *
 * @param routing         {@code topk}, {@code moge} (exactly experts_used/groups per group) or {@code group_limited}
 *                        (DeepSeek: the best groups_used of groups, then top-k)
 * @param sharedFfn       total width of the shared expert(s), 0 when none
 * @param denseLayers     leading layers with a dense FFN of width denseFfn instead of experts
 * @param mla             multi-head latent attention sizes, or null for grouped-query attention
 * @param deploymentDtype the published deployment dtype per hardware name (the default of {@code --dtype})
 * @param publishedTotal  the published parameter count, 0 when unknown (tests compare the computed one to it)
 */
public record ModelProfile(String name, String source, int layers, int hidden, int heads, int kvHeads, int headDim, int vocab,
                           int experts, int expertsUsed, String routing, int groups, int groupsUsed, int expertFfn, int sharedFfn,
                           int denseFfn, int denseLayers, boolean tiedEmbeddings, Mla mla, Map<String, String> deploymentDtype,
                           double publishedTotal, double publishedActive) {

    /** DeepSeek's multi-head latent attention: low-rank query and a compressed, cached key/value latent. */
    public record Mla(int qLoraRank, int kvLoraRank, int qkNopeDim, int qkRopeDim, int vHeadDim) { }

    public ModelProfile {
        deploymentDtype = Map.copyOf(deploymentDtype);
    }

    public int moeLayers() { return experts == 0 ? 0 : layers - denseLayers; }

    public int qDim() { return heads * headDim; }

    public int kvDim() { return kvHeads * headDim; }

    /** Attention projection weights of one layer. */
    public double attentionParams() {
        if (mla == null) return (double) hidden * (qDim() + 2L * kvDim()) + (double) qDim() * hidden;
        double qk = mla.qkNopeDim + mla.qkRopeDim;
        double q = mla.qLoraRank > 0 ? (double) hidden * mla.qLoraRank + (double) mla.qLoraRank * heads * qk : (double) hidden * heads * qk;
        double kv = (double) hidden * (mla.kvLoraRank + mla.qkRopeDim) + (double) mla.kvLoraRank * heads * (mla.qkNopeDim + mla.vHeadDim);
        return q + kv + (double) heads * mla.vHeadDim * hidden;
    }

    /** One routed expert's SwiGLU weights (gate, up, down). */
    public double expertParams() { return 3.0 * hidden * expertFfn; }

    public double sharedParams() { return 3.0 * hidden * sharedFfn; }

    public double denseFfnParams() { return 3.0 * hidden * denseFfn; }

    public double routerParams() { return (double) hidden * experts; }

    public double embeddingParams() { return (double) vocab * hidden * (tiedEmbeddings ? 1 : 2); }

    public double totalParams() {
        return layers * attentionParams() + moeLayers() * (experts * expertParams() + sharedParams() + routerParams())
                + denseLayers * denseFfnParams() + embeddingParams();
    }

    public double activeParams() {
        return layers * attentionParams() + moeLayers() * (expertsUsed * expertParams() + sharedParams() + routerParams())
                + denseLayers * denseFfnParams() + embeddingParams();
    }

    /** KV-cache elements per token per layer: K and V of every kv head, or MLA's compressed latent and rope key. */
    public double kvElementsPerToken() {
        return mla == null ? 2.0 * kvDim() : mla.kvLoraRank + mla.qkRopeDim;
    }

    /**
     * FLOPs of the attention core for one (query, key) pair, all heads: QK^T and PV. MLA in prefill runs as
     * multi-head attention over the decompressed keys; in decode it attends in the latent space (the up-projections
     * absorbed into the query and output), so each pair costs the latent width.
     */
    public double scoreFlopsPerPair(boolean decode) {
        if (mla == null) return 4.0 * heads * headDim;
        if (!decode) return 2.0 * heads * (mla.qkNopeDim + mla.qkRopeDim) + 2.0 * heads * mla.vHeadDim;
        return 2.0 * heads * (mla.kvLoraRank + mla.qkRopeDim) + 2.0 * heads * mla.kvLoraRank;
    }

    /** Width of the attention output (input of the output projection). */
    public int attnOutDim() { return mla == null ? qDim() : heads * mla.vHeadDim; }
}
