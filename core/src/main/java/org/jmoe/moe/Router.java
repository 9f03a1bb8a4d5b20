package org.jmoe.moe;

/**
 * The route stage: turns a layer's router logits (and hidden states) into a {@link RoutingPlan}. Routers are
 * stateless across batches unless documented otherwise and may be shared by all layers.
 */
public interface Router {
    /** The router's spec as the user wrote it (e.g. {@code topk:k=4}), or {@code native}. */
    String spec();

    /** The most experts one token can get. */
    int maxK(int experts);

    /** Fills {@code plan} (already {@link RoutingPlan#reset reset}) and calls {@link RoutingPlan#build()}. */
    void route(RouterInput in, RoutingPlan plan);
}
