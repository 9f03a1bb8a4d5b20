package org.jmoe.serve;

import org.jmoe.model.Sampler;

import java.util.HashMap;
import java.util.Map;

/**
 * One request's token choice: OpenAI's frequency and presence penalties over the tokens generated so far
 * (subtracted from the logits), then the engine's {@link Sampler} (repetition penalty, top-k, top-p, min-p,
 * temperature, seeded draw).
 */
final class RequestSampler {
    private final Sampler sampler;
    private final float frequencyPenalty, presencePenalty;
    private final Map<Integer, Integer> counts = new HashMap<>();

    RequestSampler(Sampler.Options o, float frequencyPenalty, float presencePenalty) {
        this.sampler = new Sampler(o);
        this.frequencyPenalty = frequencyPenalty;
        this.presencePenalty = presencePenalty;
    }

    /** Picks the next token from {@code logits[off..off+V)} (modified in place by the penalties). */
    int next(float[] logits, int off, int V, int[] history, int len) {
        if (frequencyPenalty != 0f || presencePenalty != 0f) {
            for (var e : counts.entrySet()) logits[off + e.getKey()] -= frequencyPenalty * e.getValue() + presencePenalty;
        }
        int t = sampler.sample(logits, off, V, history, len);
        counts.merge(t, 1, Integer::sum);
        return t;
    }
}
