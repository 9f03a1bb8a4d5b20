package org.jmoe.serve;

import org.jmoe.model.PagedKvCache;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One generation request through its life: what to generate, the events the scheduler sends back to the HTTP
 * thread that waits for them, and the scheduler's progress on it (owned by the scheduler thread).
 */
final class GenRequest {
    /** What the scheduler reports: text as it is generated, then one {@link Done}. */
    sealed interface Event permits Delta, Done { }

    record Delta(String text) implements Event { }

    /** The end: why ({@code stop}, {@code length}, {@code cancelled}, {@code timeout}, {@code error}), and the counts. */
    record Done(String finishReason, int promptTokens, int completionTokens, String error) implements Event { }

    final int[] prompt;
    final int maxTokens;
    final RequestSampler sampler;
    final TextAssembler text;
    final java.util.function.IntPredicate endOfGeneration;
    final long arrivalNanos;
    final long deadlineNanos;
    final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private volatile boolean cancelled;

    // Scheduler state.
    PagedKvCache.Sequence seq;
    int computed;
    int[] history;
    int length;
    int generated;
    long firstTokenNanos, lastTokenNanos;

    GenRequest(int[] prompt, int maxTokens, RequestSampler sampler, TextAssembler text, java.util.function.IntPredicate endOfGeneration,
               long timeoutNanos) {
        this.prompt = prompt;
        this.maxTokens = maxTokens;
        this.sampler = sampler;
        this.text = text;
        this.endOfGeneration = endOfGeneration;
        this.arrivalNanos = System.nanoTime();
        this.deadlineNanos = arrivalNanos + timeoutNanos;
        this.history = java.util.Arrays.copyOf(prompt, prompt.length + maxTokens);
        this.length = prompt.length;
    }

    /** Asks the scheduler to drop the request at its next step (client gone). */
    void cancel() { cancelled = true; }

    boolean cancelled() { return cancelled; }

    boolean prefilling() { return computed < prompt.length; }
}
