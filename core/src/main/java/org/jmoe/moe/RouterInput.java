package org.jmoe.moe;

/**
 * What a router sees for one layer and one batch: the router logits {@code [tokens x experts]}, the hidden
 * states that produced them {@code [tokens x hidden]} (Ada-K's allocator reads them), the token ids (Hash),
 * and the layer's routing parameters from the checkpoint (selection bias, MoGE router scale; null if absent).
 */
public final class RouterInput {
    public float[] logits;
    public int tokens;
    public int experts;
    public float[] hidden;
    public int hiddenDim;
    public int[] tokenIds;
    public int layer;
    public float[] selectionBias;
    public float[] routerScale;
}
