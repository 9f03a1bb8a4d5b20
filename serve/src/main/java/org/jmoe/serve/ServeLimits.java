package org.jmoe.serve;

/**
 * The server's bounds: batch size, KV cache memory, prefill chunk, per-request token and time limits, concurrency
 * and request body size.
 *
 * @param maxBatch         sequences in the running batch at most
 * @param kvBudgetBytes    memory of the paged KV cache
 * @param kvBlockTokens    tokens per KV block
 * @param prefillChunk     prompt tokens evaluated per step, over all prefilling requests
 * @param maxTokensLimit   the largest max_tokens a request may ask for
 * @param maxConcurrent    requests in flight (queued or running) before 429
 * @param requestTimeoutMs a request still unfinished after this is ended (finish_reason "timeout")
 * @param maxBodyBytes     largest request body accepted
 */
public record ServeLimits(int maxBatch, long kvBudgetBytes, int kvBlockTokens, int prefillChunk, int maxTokensLimit,
                          int maxConcurrent, long requestTimeoutMs, int maxBodyBytes) {
    public static ServeLimits defaults() {
        return new ServeLimits(16, 64L << 20, 16, 64, 2048, 64, 300_000, 1 << 20);
    }

    public ServeLimits {
        check("max-batch", maxBatch, 1, 4096);
        check("kv-block-tokens", kvBlockTokens, 1, 4096);
        check("prefill-chunk", prefillChunk, 1, 1 << 16);
        check("max-tokens-limit", maxTokensLimit, 1, 1 << 24);
        check("max-concurrent", maxConcurrent, 1, 1 << 20);
        check("max-body-bytes", maxBodyBytes, 1024, 1 << 30);
        if (kvBudgetBytes <= 0) throw new IllegalArgumentException("--kv-budget-mb: must be positive, got " + (kvBudgetBytes >> 20));
        if (requestTimeoutMs <= 0) throw new IllegalArgumentException("--request-timeout: must be positive, got " + requestTimeoutMs / 1000.0 + " s");
    }

    private static void check(String name, long v, long lo, long hi) {
        if (v < lo || v > hi) throw new IllegalArgumentException("--" + name + ": must be between " + lo + " and " + hi + ", got " + v);
    }

    public ServeLimits withMaxBatch(int n) {
        return new ServeLimits(n, kvBudgetBytes, kvBlockTokens, prefillChunk, maxTokensLimit, maxConcurrent, requestTimeoutMs, maxBodyBytes);
    }

    public ServeLimits withKvBudget(long bytes, int blockTokens) {
        return new ServeLimits(maxBatch, bytes, blockTokens, prefillChunk, maxTokensLimit, maxConcurrent, requestTimeoutMs, maxBodyBytes);
    }

    public ServeLimits withRequests(int maxTokens, int concurrent, long timeoutMs) {
        return new ServeLimits(maxBatch, kvBudgetBytes, kvBlockTokens, prefillChunk, maxTokens, concurrent, timeoutMs, maxBodyBytes);
    }
}
