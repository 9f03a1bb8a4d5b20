package org.jmoe.moe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;
import org.jmoe.format.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Expert-load telemetry of a run: one {@link BatchLoad} per MoE layer per step (a step is one forward call:
 * a prefill batch or a decode token), with the summary figures of docs/TRACE.md, written as the
 * {@code jmoe-routing-stats/1} JSON that {@code jmoe report} draws and the simulator replays.
 *
 * <p>Feed it every layer's {@link RoutingPlan} in order ({@link #onLayer}); a layer index that does not grow
 * starts a new step.
 */
public final class RoutingStats {
    public static final String FORMAT = "jmoe-routing-stats/1";

    /** Identifies the run in the JSON header. */
    public record Header(String model, String arch, String router, String nativeRouter, int experts, int expertsUsed,
                         int hidden, long rowBytes) { }

    /** One forward call's layers. */
    public record Step(int step, String phase, int tokens, List<BatchLoad> layers) { }

    private final Header header;
    private final Placement placement;
    private final List<Step> steps = new ArrayList<>();
    private int lastLayer = Integer.MAX_VALUE;
    private int maxK;

    public RoutingStats(Header header, Placement placement) {
        this.header = header;
        this.placement = placement;
    }

    public Header header() { return header; }
    public Placement placement() { return placement; }
    public List<Step> steps() { return steps; }

    /** Records one layer's routing of the current step. */
    public void onLayer(int layer, RoutingPlan plan) {
        if (layer <= lastLayer) {
            steps.add(new Step(steps.size(), plan.tokens() > 1 ? "prefill" : "decode", plan.tokens(), new ArrayList<>()));
        }
        lastLayer = layer;
        maxK = Math.max(maxK, plan.maxK());
        steps.getLast().layers().add(BatchLoad.of(layer, plan, placement, header.rowBytes()));
    }

    /** Mean of the per-batch imbalance scores over every step and layer. */
    public double meanImbalanceScore() { return mean(BatchLoad::imbalanceScore); }

    public double meanMaxOverMean() { return mean(BatchLoad::maxOverMean); }

    /** Token→expert computations per token-layer. */
    public double meanK() {
        long t = total(BatchLoad::tokens);
        return t == 0 ? 0 : (double) total(BatchLoad::assignments) / t;
    }

    public long crossDeviceBytes() { return total(BatchLoad::crossDeviceBytes); }

    public long crossNodeBytes() { return total(BatchLoad::crossNodeBytes); }

    public long dropped() { return total(BatchLoad::dropped); }

    private long total(java.util.function.ToLongFunction<BatchLoad> f) {
        long s = 0;
        for (Step st : steps) for (BatchLoad b : st.layers()) s += f.applyAsLong(b);
        return s;
    }

    private double mean(java.util.function.ToDoubleFunction<BatchLoad> f) {
        double s = 0;
        int n = 0;
        for (Step st : steps) for (BatchLoad b : st.layers()) { s += f.applyAsDouble(b); n++; }
        return n == 0 ? 0 : s / n;
    }

    public long tokens() {
        long s = 0;
        for (Step st : steps) s += st.tokens();
        return s;
    }

    /** The docs/TRACE.md JSON tree. */
    private java.util.function.Supplier<ObjectNode> stageTimes;

    /** Adds a {@code stage_times} section (per-layer, per-device dispatch/compute/combine/idle), filled at write time. */
    public void setStageTimes(java.util.function.Supplier<ObjectNode> s) { this.stageTimes = s; }

    public ObjectNode toJson() {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.put("format", FORMAT);
        o.put("model", header.model());
        o.put("arch", header.arch());
        o.put("router", header.router());
        o.put("native_router", header.nativeRouter());
        o.put("experts", header.experts());
        o.put("experts_used", header.expertsUsed());
        o.put("max_k", maxK);
        o.put("hidden", header.hidden());
        o.put("row_bytes", header.rowBytes());
        ObjectNode mesh = o.putObject("mesh");
        mesh.put("devices", placement.devices());
        mesh.put("nodes", placement.nodes());
        mesh.put("placement", placement.name());
        ArrayNode ed = mesh.putArray("expert_device");
        for (int e = 0; e < placement.experts(); e++) ed.add(placement.device(e));
        ArrayNode sa = o.putArray("steps");
        java.util.TreeMap<Integer, long[][]> perLayer = new java.util.TreeMap<>(); // layer -> {experts, devices, {assign, tokens, dropped}}
        java.util.TreeMap<Integer, double[]> isPerLayer = new java.util.TreeMap<>(); // layer -> {sum IS, n}
        for (Step st : steps) {
            ObjectNode so = sa.addObject();
            so.put("step", st.step());
            so.put("phase", st.phase());
            so.put("tokens", st.tokens());
            ArrayNode la = so.putArray("layers");
            for (BatchLoad b : st.layers()) {
                ObjectNode lo = la.addObject();
                lo.put("layer", b.layer());
                lo.put("tokens", b.tokens());
                lo.put("assignments", b.assignments());
                longs(lo.putArray("expert_tokens"), b.expertTokens());
                longs(lo.putArray("device_tokens"), b.deviceTokens());
                longs(lo.putArray("node_tokens"), b.nodeTokens());
                lo.put("imbalance_score", b.imbalanceScore());
                lo.put("max_over_mean", b.maxOverMean());
                lo.put("cv", b.cv());
                longs(lo.putArray("k_histogram"), java.util.Arrays.copyOf(b.kHistogram(), maxK + 1));
                lo.put("dropped", b.dropped());
                lo.put("cross_device_bytes", b.crossDeviceBytes());
                lo.put("cross_node_bytes", b.crossNodeBytes());
                long[][] acc = perLayer.computeIfAbsent(b.layer(), k -> new long[][]{new long[header.experts()], new long[placement.devices()], new long[3], new long[maxK + 1]});
                for (int e = 0; e < acc[0].length; e++) acc[0][e] += b.expertTokens()[e];
                for (int d = 0; d < acc[1].length; d++) acc[1][d] += b.deviceTokens()[d];
                acc[2][0] += b.assignments();
                acc[2][1] += b.tokens();
                acc[2][2] += b.dropped();
                if (acc[3].length < maxK + 1) acc[3] = java.util.Arrays.copyOf(acc[3], maxK + 1);
                for (int k = 0; k < b.kHistogram().length; k++) acc[3][k] += b.kHistogram()[k];
                double[] is = isPerLayer.computeIfAbsent(b.layer(), k -> new double[2]);
                is[0] += b.imbalanceScore();
                is[1]++;
            }
        }
        ObjectNode sum = o.putObject("summary");
        sum.put("tokens", tokens());
        sum.put("steps", steps.size());
        sum.put("imbalance_score", meanImbalanceScore());
        sum.put("max_over_mean", meanMaxOverMean());
        sum.put("mean_k", meanK());
        sum.put("dropped", dropped());
        sum.put("cross_device_bytes", crossDeviceBytes());
        sum.put("cross_node_bytes", crossNodeBytes());
        ArrayNode ls = sum.putArray("layers");
        for (var en : perLayer.entrySet()) {
            long[][] acc = en.getValue();
            ObjectNode lo = ls.addObject();
            lo.put("layer", en.getKey());
            longs(lo.putArray("expert_tokens"), acc[0]);
            longs(lo.putArray("device_tokens"), acc[1]);
            double[] is = isPerLayer.get(en.getKey());
            lo.put("imbalance_score", is[0] / is[1]);
            lo.put("mean_k", acc[2][1] == 0 ? 0 : (double) acc[2][0] / acc[2][1]);
            lo.put("dropped", acc[2][2]);
            longs(lo.putArray("k_histogram"), acc[3]);
        }
        if (stageTimes != null) {
            ObjectNode st = stageTimes.get();
            if (st != null) o.set("stage_times", st);
        }
        return o;
    }

    private static void longs(ArrayNode a, long[] v) {
        for (long x : v) a.add(x);
    }

    /** Writes the JSON atomically. */
    public void write(Path file) {
        ObjectNode o = toJson();
        AtomicFiles.write(file, tmp -> {
            try (var os = Files.newOutputStream(tmp)) {
                new ObjectMapper().writeValue(os, o);
            }
        });
    }

    /** Reads and checks a stats file's header (for report and replay); the tree is returned as is. */
    public static JsonNode read(Path file) {
        String who = file.toString();
        JsonNode n;
        try {
            if (Files.size(file) > (1L << 30)) throw new JmoeException(who, "stats file larger than 1 GiB");
            n = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new JmoeException(who, "cannot read routing statistics: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (n == null || !n.isObject()) throw new JmoeException(who, "not a JSON object");
        if (!FORMAT.equals(n.path("format").asText())) throw new JmoeException(who, "not a jmoe routing statistics file (format '" + n.path("format").asText() + "', expected " + FORMAT + ")", "field format");
        for (String f : new String[]{"experts", "mesh", "steps", "summary"}) {
            if (!n.has(f)) throw new JmoeException(who, "missing field", "field " + f);
        }
        return n;
    }
}
