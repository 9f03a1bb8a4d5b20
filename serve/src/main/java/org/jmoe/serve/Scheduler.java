package org.jmoe.serve;

import org.jmoe.model.BatchForward;
import org.jmoe.model.PagedKvCache;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;

/**
 * Continuous batching on one thread. Each step: drop cancelled and timed-out requests, admit queued ones while
 * the batch has room and the KV cache can reserve their worst case, then run one {@link BatchForward} pass over
 * one decode token of every generating request plus up to {@code prefillChunk} prompt tokens of the prefilling
 * ones (oldest first), and sample a token for each request whose last row had logits. Requests join and leave
 * the batch between any two steps.
 */
final class Scheduler implements AutoCloseable {
    private final BatchForward forward;
    private final PagedKvCache kv;
    private final ServeLimits limits;
    private final ServeMetrics metrics;
    private final int vocab;
    private final LinkedBlockingDeque<GenRequest> queue = new LinkedBlockingDeque<>();
    private final List<GenRequest> running = new ArrayList<>();
    private final Thread thread;
    private volatile boolean accepting = true, stopping;
    private volatile int runningCount;
    private volatile long drainDeadline = Long.MAX_VALUE;
    private float[] logits = new float[0];
    private long steps;

    Scheduler(BatchForward forward, ServeLimits limits, ServeMetrics metrics) {
        this.forward = forward;
        this.kv = forward.cache();
        this.limits = limits;
        this.metrics = metrics;
        this.vocab = forward.model().config().vocab;
        this.thread = Thread.ofPlatform().name("jmoe-scheduler").daemon().start(this::loop);
    }

    int running() { return runningCount; }
    int queued() { return queue.size(); }
    long steps() { return steps; }
    PagedKvCache cache() { return kv; }

    /** Largest prompt + max_tokens a request can have: what the whole KV cache holds. */
    int maxSequenceTokens() { return kv.totalBlocks() * kv.blockSize(); }

    /** Queues a request; it is rejected when the server is shutting down or it could never fit the KV cache. */
    void submit(GenRequest r) {
        if (!accepting) throw new ApiError(503, "server_error", null, "shutting_down", "the server is shutting down");
        int total = r.prompt.length + r.maxTokens;
        if (total > maxSequenceTokens()) {
            throw ApiError.invalid("max_tokens", "prompt (" + r.prompt.length + " tokens) + max_tokens (" + r.maxTokens + ") = " + total
                    + " tokens exceeds the KV cache budget of " + maxSequenceTokens() + " tokens (--kv-budget-mb)");
        }
        queue.add(r);
    }

    private void loop() {
        while (!stopping || !running.isEmpty() || !queue.isEmpty()) {
            try {
                if (running.isEmpty() && queue.isEmpty()) {
                    GenRequest r = queue.poll(50, TimeUnit.MILLISECONDS);
                    if (r != null) queue.addFirst(r);
                    continue;
                }
                step();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException | Error e) {
                // A failed step fails the requests in it; the server goes on with the next ones.
                for (GenRequest r : running) finish(r, "error", e.toString());
                running.clear();
                runningCount = 0;
            }
        }
    }

    private void step() throws InterruptedException {
        long now = System.nanoTime();
        boolean drainOver = now > drainDeadline;
        for (int i = running.size() - 1; i >= 0; i--) {
            GenRequest r = running.get(i);
            String why = r.cancelled() ? "cancelled" : now > r.deadlineNanos ? "timeout" : drainOver ? "cancelled" : null;
            if (why != null) { running.remove(i); finish(r, why, null); }
        }
        for (var it = queue.iterator(); it.hasNext(); ) {
            GenRequest r = it.next();
            String why = r.cancelled() ? "cancelled" : now > r.deadlineNanos ? "timeout" : stopping ? "cancelled" : null;
            if (why != null) { it.remove(); finish(r, why, null); }
        }
        while (running.size() < limits.maxBatch() && !queue.isEmpty()) {
            GenRequest r = queue.peekFirst();
            PagedKvCache.Sequence s = kv.open(r.prompt, r.prompt.length + r.maxTokens);
            if (s == null) break; // waits until running requests give blocks back
            queue.pollFirst();
            r.seq = s;
            r.computed = s.length();
            running.add(r);
        }
        runningCount = running.size();
        if (running.isEmpty()) {
            if (!queue.isEmpty()) Thread.sleep(1);
            return;
        }
        List<BatchForward.Row> rows = new ArrayList<>();
        List<int[]> prompts = new ArrayList<>();
        List<GenRequest> sampled = new ArrayList<>();
        int budget = limits.prefillChunk();
        for (GenRequest r : running) {
            if (r.prefilling()) {
                int n = Math.min(r.prompt.length - r.computed, budget);
                for (int i = 0; i < n; i++) {
                    int p = r.computed + i;
                    boolean last = p == r.prompt.length - 1;
                    rows.add(new BatchForward.Row(r.seq, r.prompt[p], p, last));
                    prompts.add(r.prompt);
                    if (last) sampled.add(r);
                }
                budget -= n;
                r.computed += n;
            } else {
                int p = r.length - 1;
                rows.add(new BatchForward.Row(r.seq, r.history[p], p, true));
                prompts.add(r.prompt);
                sampled.add(r);
            }
        }
        if (rows.isEmpty()) return;
        logits = sampled.size() * vocab > logits.length ? new float[sampled.size() * vocab] : logits;
        forward.eval(rows.toArray(BatchForward.Row[]::new), prompts.toArray(int[][]::new), logits);
        steps++;
        long t = System.nanoTime();
        int out = 0;
        for (int i = 0; i < sampled.size(); i++) {
            GenRequest r = sampled.get(i);
            int tok = r.sampler.next(logits, i * vocab, vocab, r.history, r.length);
            r.history[r.length++] = tok;
            r.generated++;
            out++;
            if (r.generated == 1) {
                r.firstTokenNanos = t;
                metrics.ttft(t - r.arrivalNanos);
            } else {
                metrics.tpot(t - r.lastTokenNanos);
            }
            r.lastTokenNanos = t;
            String reason = null;
            if (r.endOfGeneration.test(tok)) reason = "stop";
            else {
                String d = r.text.push(tok);
                if (!d.isEmpty()) r.events.add(new GenRequest.Delta(d));
                if (r.text.stopped()) reason = "stop";
                else if (r.generated >= r.maxTokens) reason = "length";
            }
            if (reason != null) {
                running.remove(r);
                finish(r, reason, null);
            }
        }
        metrics.tokensOut(out);
        runningCount = running.size();
    }

    private void finish(GenRequest r, String reason, String error) {
        if (r.seq != null) {
            r.seq.release();
            r.seq = null;
        }
        if (!"stop".equals(reason) || !r.text.stopped()) {
            String rest = r.text.flush();
            if (!rest.isEmpty() && error == null && !"cancelled".equals(reason)) r.events.add(new GenRequest.Delta(rest));
        }
        r.events.add(new GenRequest.Done(reason, r.prompt.length, r.generated, error));
    }

    /**
     * Stops taking requests; running ones may finish for up to {@code graceMillis}, then the rest are cancelled
     * (queued ones at once). Waits for the scheduler thread to end.
     */
    void shutdown(long graceMillis) {
        accepting = false;
        drainDeadline = System.nanoTime() + graceMillis * 1_000_000L;
        stopping = true;
        try {
            thread.join(graceMillis + 30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() { shutdown(0); }
}
