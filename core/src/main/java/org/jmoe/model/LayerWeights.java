package org.jmoe.model;

import org.jmoe.tensor.Tensor;

/**
 * The weights of one transformer block. Matrices stay off-heap ({@link Tensor} views of the model file);
 * small vectors (norms, biases, router scales) are decoded to float arrays at load. Fields that an
 * architecture does not have are null. Expert matrices are one 2-D view per expert, whether the file stores
 * them stacked (GGUF) or one tensor per expert (safetensors).
 */
public final class LayerWeights {
    public float[] attnNorm;
    public Tensor wq, wk, wv, wo;
    public float[] bq, bk, bv, bo;
    public float[] qNorm, kNorm;

    public float[] ffnNorm;
    /** Dense FFN (leading dense layers or dense models). */
    public Tensor ffnGate, ffnUp, ffnDown;

    /** Router: [experts rows x hidden cols]. */
    public Tensor router;
    /** Router bias (LocMoE's ε): added to the router logits; null if absent. */
    public float[] routerBias;
    /** DeepSeek-V3 selection bias ({@code exp_probs_b}): changes which experts are chosen, not their weights. */
    public float[] selectionBias;
    /** MoGE per-expert multiplier on the routing weight ({@code router_scale}). */
    public float[] routerScale;
    public Tensor[] expGate, expUp, expDown;

    /** Shared expert (may be several fused into one wider FFN). */
    public Tensor shGate, shUp, shDown;
    /** Qwen2-MoE's shared-expert gate vector: output scaled by sigmoid(shGateInp · x). */
    public float[] shGateInp;
}
