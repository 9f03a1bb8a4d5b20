package org.jmoe.serve;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The live dashboard: a static page (HTML, CSS and JavaScript in one file, no external resources) and the JSON it
 * polls every second: throughput over the last minute, TTFT/TPOT percentiles, batch, queue and KV cache, expert
 * load per layer (the heatmap) and load per device (the bars).
 */
final class Dashboard {
    private final byte[] page;
    private final ServedModel served;
    private final Scheduler scheduler;
    private final ServeMetrics metrics;
    private final ExpertLoadTracker loads;
    private final long start = System.currentTimeMillis();

    Dashboard(ServedModel served, Scheduler scheduler, ServeMetrics metrics, ExpertLoadTracker loads) {
        this.served = served;
        this.scheduler = scheduler;
        this.metrics = metrics;
        this.loads = loads;
        try (InputStream in = Dashboard.class.getResourceAsStream("dashboard.html")) {
            if (in == null) throw new IllegalStateException("dashboard.html missing from the jar");
            this.page = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    byte[] page() { return page; }

    ObjectNode data() {
        ObjectNode o = Exchanges.JSON.createObjectNode();
        o.put("model", served.id());
        o.put("uptime_s", (System.currentTimeMillis() - start) / 1000.0);
        o.put("running", scheduler.running());
        o.put("queued", scheduler.queued());
        o.put("steps", scheduler.steps());
        ObjectNode kv = o.putObject("kv");
        kv.put("used", scheduler.cache().usedBlocks());
        kv.put("total", scheduler.cache().totalBlocks());
        kv.put("block_tokens", scheduler.cache().blockSize());
        ArrayNode tps = o.putArray("tokens_per_s");
        for (long n : metrics.tokensPerSecond(60)) tps.add(n);
        o.put("tokens_out_total", (long) metrics.totalTokensOut());
        ArrayNode ttft = o.putArray("ttft_ms");
        for (double v : metrics.ttftMillis()) ttft.add(v);
        ArrayNode tpot = o.putArray("tpot_ms");
        for (double v : metrics.tpotMillis()) tpot.add(v);
        if (loads != null) {
            o.put("layers", loads.layers());
            o.put("experts", loads.experts());
            o.put("devices", loads.devices());
            ArrayNode el = o.putArray("expert_load"), dl = o.putArray("device_load"), is = o.putArray("imbalance_score");
            for (int l = 0; l < loads.layers(); l++) {
                ArrayNode row = el.addArray();
                for (int e = 0; e < loads.experts(); e++) row.add(loads.load(l, e));
                ArrayNode d = dl.addArray();
                for (double v : loads.deviceLoad(l)) d.add(v);
                is.add(loads.imbalanceScore(l));
            }
        }
        return o;
    }
}
