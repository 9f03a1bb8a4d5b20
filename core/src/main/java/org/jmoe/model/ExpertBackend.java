package org.jmoe.model;

import org.jmoe.moe.RoutingPlan;
import org.jmoe.tensor.Parallel;

/**
 * The dispatch → compute stages of one MoE layer: given the {@link RoutingPlan}, run every routed
 * token→expert computation and leave the expert's output for slot {@code s} of token {@code t} in
 * {@code slotOut[plan.row(t, s) * hidden ..]} (compact rows: {@code plan.assignments()} of them). {@link Forward} then combines the slots in routing
 * order. {@link LocalExperts} runs them on this JVM's pool; expert-parallel backends move rows to the
 * devices that own the experts and bring the results back.
 *
 * <p>Every backend must give a row the same result whatever else is in the batch (batch invariance).
 */
public interface ExpertBackend extends AutoCloseable {
    /** Runs layer {@code layer}'s routed experts over the rows of {@code xb} ([tokens x hidden]). */
    void compute(int layer, LayerWeights w, RoutingPlan plan, float[] xb, float[] slotOut, Parallel pool);

    @Override
    default void close() { }
}
