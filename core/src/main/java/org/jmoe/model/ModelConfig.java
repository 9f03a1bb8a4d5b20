package org.jmoe.model;

/**
 * Everything that distinguishes one MoE architecture from another, as data: sizes, attention variant,
 * routing semantics and the multipliers some families add. One forward pass ({@link Forward}) runs every
 * architecture from this description; there is no class per model.
 */
public final class ModelConfig {
    /** RoPE pairing: NORM rotates adjacent pairs (x[2i], x[2i+1]) (llama/Mixtral); NEOX rotates (x[i], x[i+d/2]). */
    public enum RopeType { NORM, NEOX }

    /** Where RMSNorm is applied to the query and key projections. */
    public enum QkNorm { NONE, PER_HEAD, WHOLE }

    /** How router logits become expert scores. SOFTMAX_AFTER_TOPK: top-k of the logits, softmax over the k. */
    public enum Gating { SOFTMAX, SIGMOID, SOFTMAX_AFTER_TOPK }

    /** How routing picks experts: plain top-k, DeepSeek's group-limited top-k, or MoGE's per-group top-k'. */
    public enum Routing { TOPK, GROUP_LIMITED, MOGE }

    /** How the shared expert's output is scaled: not at all, or by sigmoid(w · x) (Qwen2-MoE). */
    public enum SharedGate { NONE, SIGMOID }

    public String arch;
    /** HF architecture name or GGUF {@code general.architecture}, for display. */
    public String archDisplay;
    public String name = "";
    public int hidden;
    public int layers;
    public int heads;
    public int kvHeads;
    public int headDim;
    public int vocab;
    public int contextLength = 4096;
    public float rmsEps = 1e-6f;

    public double ropeTheta = 10000;
    public RopeType ropeType = RopeType.NORM;
    /** Dimensions of each head that RoPE rotates (the whole head unless partial rotary). */
    public int ropeDim;
    /** Linear position scaling ({@code rope.scaling.factor} with type linear): positions are divided by it. */
    public double ropeLinearFactor = 1;
    /** YaRN scaling factor (1 = none) and the context it was trained at. */
    public double ropeYarnFactor = 1;
    public int ropeYarnOrigCtx = 0;
    public double ropeYarnBetaFast = 32, ropeYarnBetaSlow = 1, ropeYarnExtFactor = 1, ropeYarnAttnFactor = 1;

    public QkNorm qkNorm = QkNorm.NONE;

    // Feed-forward
    /** Width of the dense FFN of leading dense layers (0 when every layer is MoE). */
    public int denseFfn;
    public int leadingDenseLayers;
    public int experts;
    public int expertsUsed;
    public int expertFfn;
    /** Width of the shared expert(s) in total (0 = none). */
    public int sharedFfn;
    public SharedGate sharedGate = SharedGate.NONE;

    // Routing
    public Gating gating = Gating.SOFTMAX;
    public Routing routing = Routing.TOPK;
    /** Renormalise the selected experts' weights to sum to one. */
    public boolean normTopK;
    /** Multiplier on the final routing weights ({@code expert_weights_scale}, DeepSeek's routed_scaling_factor). */
    public float weightsScale = 1f;
    /** Expert groups: DeepSeek's n_group (with groupsUsed = topk_group) or MoGE's M. */
    public int groups = 1;
    public int groupsUsed = 1;
    /**
     * The router spec the model was trained with when its config names one ({@code jmoe_router} in a config.json
     * or {@code jmoe.router} in GGUF metadata, written by jmoe's training lab), else null (the fields above say).
     */
    public String nativeRouter;

    // Granite multipliers (1 = none); attentionScale 0 means 1/sqrt(headDim)
    public float embeddingScale = 1f;
    public float residualScale = 1f;
    public float attentionScale = 0f;
    /** Logits are divided by this (Granite's logits_scaling). */
    public float logitScale = 1f;

    public int bosId = -1;
    public int eosId = -1;

    /**
     * Checks that the hyper-parameters a file declared are usable before any buffer is sized from them
     * (loaders call it; {@code who} names the file). Fails with the offending parameter named.
     */
    public void validate(String who) {
        range(who, "hidden size", hidden, 1, 1 << 20);
        range(who, "layer count", layers, 1, 1 << 16);
        range(who, "attention heads", heads, 1, 1 << 14);
        range(who, "key/value heads", kvHeads, 1, heads);
        if (heads % kvHeads != 0) throw new org.jmoe.JmoeException(who, heads + " attention heads are not a multiple of " + kvHeads + " key/value heads", "kv heads");
        range(who, "head dimension", headDim, 1, 1 << 16);
        range(who, "context length", contextLength, 1, Integer.MAX_VALUE);
        int rd = ropeDim > 0 ? ropeDim : headDim;
        if (rd > headDim || rd % 2 != 0) throw new org.jmoe.JmoeException(who, "RoPE dimension count " + rd + " must be even and at most the head dimension " + headDim, "rope dimension count");
        finitePositive(who, "RoPE base", ropeTheta);
        finitePositive(who, "RoPE linear scaling factor", ropeLinearFactor);
        finitePositive(who, "RoPE YaRN factor", ropeYarnFactor);
        if (!(rmsEps >= 0 && rmsEps < 1)) throw new org.jmoe.JmoeException(who, "RMSNorm epsilon " + rmsEps + " is not in [0, 1)", "rms epsilon");
        range(who, "dense FFN width", denseFfn, 0, 1 << 24);
        range(who, "expert count", experts, 0, 1 << 16);
        if (experts > 0) {
            range(who, "experts per token", expertsUsed, 1, experts);
            range(who, "expert FFN width", expertFfn, 1, 1 << 24);
            range(who, "expert groups", groups, 1, experts);
            if (experts % groups != 0) throw new org.jmoe.JmoeException(who, experts + " experts do not split into " + groups + " groups", "expert groups");
            range(who, "groups used", groupsUsed, 1, groups);
        }
        range(who, "shared expert width", sharedFfn, 0, 1 << 24);
        range(who, "leading dense layers", leadingDenseLayers, 0, layers);
        for (float v : new float[]{weightsScale, embeddingScale, residualScale, attentionScale, logitScale}) {
            if (!Float.isFinite(v)) throw new org.jmoe.JmoeException(who, "a scale multiplier is not finite (" + v + ")", "scales");
        }
        if (logitScale == 0) throw new org.jmoe.JmoeException(who, "logit scale 0 (logits are divided by it)", "logit scale");
    }

    private static void range(String who, String what, long v, long lo, long hi) {
        if (v < lo || v > hi) throw new org.jmoe.JmoeException(who, what + " " + v + " is outside " + lo + ".." + hi, what);
    }

    private static void finitePositive(String who, String what, double v) {
        if (!(v > 0) || !Double.isFinite(v)) throw new org.jmoe.JmoeException(who, what + " " + v + " must be a positive number", what);
    }

    public boolean isMoeLayer(int layer) {
        return experts > 0 && layer >= leadingDenseLayers;
    }

    public int qDim() { return heads * headDim; }

    public int kvDim() { return kvHeads * headDim; }

    public float attnScale() {
        return attentionScale != 0 ? attentionScale : (float) (1.0 / Math.sqrt(headDim));
    }

    /** A short description of the routing semantics, for {@code info} and warnings. */
    public String routingDescription() {
        String sel = switch (routing) {
            case TOPK -> "top-" + expertsUsed;
            case GROUP_LIMITED -> "top-" + expertsUsed + " within the best " + groupsUsed + " of " + groups + " groups";
            case MOGE -> "MoGE: top-" + (expertsUsed / Math.max(1, groups)) + " in each of " + groups + " groups";
        };
        return gating.name().toLowerCase() + ", " + sel + (normTopK ? ", renormalised" : "") + (weightsScale != 1f ? ", scaled x" + weightsScale : "");
    }
}
