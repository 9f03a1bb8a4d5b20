package org.jmoe.serve;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The server's meters (Micrometer, scraped as Prometheus text at {@code /metrics}) and the short history the
 * dashboard draws: decode tokens per second over the last minute and the latest TTFT and TPOT samples.
 * docs/SERVING.md lists the series.
 */
final class ServeMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final ConcurrentHashMap<String, Counter> requests = new ConcurrentHashMap<>();
    private final Counter tokensIn, tokensOut;
    private final Timer ttft, tpot;
    private final long startMillis = System.currentTimeMillis();
    private final long[] perSecond = new long[120];
    private long lastSecond;
    private final Recent recentTtft = new Recent(512), recentTpot = new Recent(2048);

    ServeMetrics() {
        new JvmMemoryMetrics().bindTo(registry);
        new io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics().bindTo(registry);
        new io.micrometer.core.instrument.binder.system.FileDescriptorMetrics().bindTo(registry);
        tokensIn = Counter.builder("jmoe.tokens.in").description("Prompt tokens of accepted requests").register(registry);
        tokensOut = Counter.builder("jmoe.tokens.out").description("Generated tokens").register(registry);
        ttft = Timer.builder("jmoe.ttft").description("Time to first token").publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(5)).register(registry);
        tpot = Timer.builder("jmoe.tpot").description("Time per output token after the first").publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofSeconds(30)).register(registry);
    }

    /** Gauges read from the scheduler, the KV cache and the expert loads. */
    void bind(Scheduler s, ExpertLoadTracker loads) {
        Gauge.builder("jmoe.batch.running", s, Scheduler::running).description("Requests in the running batch").register(registry);
        Gauge.builder("jmoe.queue.length", s, Scheduler::queued).description("Requests waiting to join the batch").register(registry);
        Gauge.builder("jmoe.kv.blocks.used", s, x -> x.cache().usedBlocks()).description("KV cache blocks held by requests").register(registry);
        Gauge.builder("jmoe.kv.blocks.capacity", s, x -> x.cache().totalBlocks()).description("KV cache blocks in all").register(registry);
        Gauge.builder("jmoe.kv.prefix.reused.tokens", s, x -> x.cache().reusedTokens()).description("Prompt tokens served from shared prefix blocks").register(registry);
        if (loads == null) return;
        for (int l = 0; l < loads.layers(); l++) {
            final int layer = l;
            String ls = Integer.toString(l);
            for (int e = 0; e < loads.experts(); e++) {
                final int expert = e;
                Gauge.builder("jmoe.expert.load", loads, t -> t.load(layer, expert)).tags("layer", ls, "expert", Integer.toString(e))
                        .description("Tokens per step routed to the expert (recent window)").register(registry);
            }
            Gauge.builder("jmoe.expert.imbalance", loads, t -> t.expertImbalance(layer)).tags("layer", ls)
                    .description("Max over mean expert load of the layer (recent window)").register(registry);
            Gauge.builder("jmoe.device.imbalance.score", loads, t -> t.imbalanceScore(layer)).tags("layer", ls)
                    .description("(max - min) device load / tokens of the layer (recent window)").register(registry);
        }
    }

    /** A request answered with HTTP {@code status}. */
    void request(int status) {
        requests.computeIfAbsent(Integer.toString(status), k -> Counter.builder("jmoe.requests").tag("status", k)
                .description("Requests answered, by HTTP status").register(registry)).increment();
    }

    void tokensIn(int n) { tokensIn.increment(n); }

    void tokensOut(int n) {
        tokensOut.increment(n);
        synchronized (perSecond) {
            long sec = (System.currentTimeMillis() - startMillis) / 1000;
            advance(sec);
            perSecond[(int) (sec % perSecond.length)] += n;
        }
    }

    private void advance(long sec) {
        for (long s = lastSecond + 1; s <= sec && s <= lastSecond + perSecond.length; s++) perSecond[(int) (s % perSecond.length)] = 0;
        lastSecond = Math.max(lastSecond, sec);
    }

    void ttft(long nanos) {
        ttft.record(Duration.ofNanos(nanos));
        recentTtft.add(nanos / 1e6);
    }

    void tpot(long nanos) {
        tpot.record(Duration.ofNanos(nanos));
        recentTpot.add(nanos / 1e6);
    }

    /** Generated tokens in each of the last {@code n} whole seconds, oldest first. */
    long[] tokensPerSecond(int n) {
        synchronized (perSecond) {
            long sec = (System.currentTimeMillis() - startMillis) / 1000;
            advance(sec);
            long[] out = new long[n];
            for (int i = 0; i < n; i++) {
                long s = sec - n + i;
                out[i] = s < 0 ? 0 : perSecond[(int) (s % perSecond.length)];
            }
            return out;
        }
    }

    /** Recent TTFT percentiles in ms (p50, p90, p99). */
    double[] ttftMillis() { return recentTtft.percentiles(); }

    /** Recent TPOT percentiles in ms (p50, p90, p99). */
    double[] tpotMillis() { return recentTpot.percentiles(); }

    double totalTokensOut() { return tokensOut.count(); }

    String scrape() { return registry.scrape(); }

    Supplier<String> scraper() { return this::scrape; }

    /** The last samples of a latency, for percentiles. */
    private static final class Recent {
        private final double[] ring;
        private int n;

        Recent(int size) { ring = new double[size]; }

        synchronized void add(double v) { ring[n++ % ring.length] = v; }

        synchronized double[] percentiles() {
            int m = Math.min(n, ring.length);
            if (m == 0) return new double[3];
            double[] s = Arrays.copyOf(ring, m);
            Arrays.sort(s);
            return new double[]{s[(int) (0.5 * (m - 1))], s[(int) Math.round(0.9 * (m - 1))], s[(int) Math.round(0.99 * (m - 1))]};
        }
    }
}
