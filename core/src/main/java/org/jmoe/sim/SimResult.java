package org.jmoe.sim;

import java.util.Map;

/**
 * What one simulated step costs.
 *
 * @param stepMs         the step's time on the slowest device
 * @param ttftMs         time to first token (prefill: the step; decode: a prefill of one sequence per attention
 *                       replica at the context length; train: null)
 * @param tpotMs         time per output token (decode: the step; otherwise null)
 * @param memoryPerDeviceGb the busiest device's memory (weights, KV cache, workspace; in training also gradients,
 *                       optimizer state and activations)
 * @param breakdownMs    stage times on the slowest device summed over the step; they add up to stepMs (overlap is
 *                       a negative entry)
 * @param routing        routing figures of the sampled layers (max/mean over ranks, imbalance score, mean k, dropped
 *                       share, remote and inter-node share of dispatched rows)
 */
public record SimResult(String plan, SimRequest.Phase phase, int batch, int seq, String router, String schedule, int chunks,
                        double stepMs, double tokensPerS, double tokensPerSPerCard, Double ttftMs, Double tpotMs,
                        double memoryPerDeviceGb, boolean fits, Map<String, Double> breakdownMs, Map<String, Double> routing) {
}
