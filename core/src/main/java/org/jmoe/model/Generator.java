package org.jmoe.model;

import java.util.Arrays;

/**
 * Generation: evaluates the prompt in one batch, then samples one token at a time until a stop token or the
 * token limit, calling back for each token.
 */
public final class Generator {
    /** Called for each generated token; return false to stop. */
    @FunctionalInterface
    public interface TokenListener {
        boolean onToken(int token);
    }

    /** What a generation did: counts, why it stopped, and the time spent in prompt processing and generation. */
    public record Result(int[] tokens, int promptTokens, int generated, String stopReason, long promptNanos, long genNanos) {
        public double promptTokensPerSecond() { return promptNanos == 0 ? 0 : promptTokens * 1e9 / promptNanos; }
        public double genTokensPerSecond() { return genNanos == 0 ? 0 : generated * 1e9 / genNanos; }
    }

    private final Forward forward;

    public Generator(Forward forward) {
        this.forward = forward;
    }

    public Result generate(int[] prompt, int maxTokens, Sampler sampler, java.util.function.IntPredicate isStop, TokenListener listener) {
        if (prompt.length == 0) throw new IllegalArgumentException("empty prompt: at least one token is needed");
        ModelConfig c = forward.model().config();
        int V = c.vocab;
        int room = forward.contextSize() - forward.position() - prompt.length;
        if (room < 0) throw new IllegalArgumentException("prompt of " + prompt.length + " tokens does not fit the context of " + forward.contextSize());
        maxTokens = Math.min(maxTokens, room);
        int[] history = Arrays.copyOf(prompt, prompt.length + maxTokens);
        int len = prompt.length;
        float[] logits = new float[V];
        long t0 = System.nanoTime();
        forward.eval(prompt, logits, false);
        long t1 = System.nanoTime();
        int generated = 0;
        String reason = "length";
        int[] one = new int[1];
        while (generated < maxTokens) {
            int next = sampler.sample(logits, 0, V, history, len);
            history[len++] = next;
            generated++;
            if (isStop != null && isStop.test(next)) { reason = "stop"; break; }
            if (listener != null && !listener.onToken(next)) { reason = "cancelled"; break; }
            if (generated == maxTokens) break;
            one[0] = next;
            forward.eval(one, logits, false);
        }
        long t2 = System.nanoTime();
        return new Result(Arrays.copyOfRange(history, prompt.length, len), prompt.length, generated, reason, t1 - t0, t2 - t1);
    }
}
