package org.jmoe.sim;

import com.fasterxml.jackson.databind.JsonNode;
import org.jmoe.JmoeException;
import org.jmoe.moe.RoutingStats;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Expert loads recorded by a run ({@code --stats}, docs/TRACE.md), for replay: per recorded MoE layer, each expert's
 * rows per token over the whole run (summary {@code expert_tokens} / summary {@code tokens}, so mean k, drops and
 * the router's preferences are the recorded ones) and the share of assignments dropped.
 */
public final class TraceLoads {
    private final String file;
    private final String router;
    private final int experts;
    private final List<double[]> shares = new ArrayList<>();
    private final List<Double> dropShare = new ArrayList<>();

    private TraceLoads(String file, String router, int experts) {
        this.file = file;
        this.router = router;
        this.experts = experts;
    }

    public static TraceLoads read(Path path) {
        JsonNode n = RoutingStats.read(path);
        String who = path.toString();
        int E = n.path("experts").asInt(0);
        if (E < 1) throw new JmoeException(who, "experts must be a positive count", "field experts");
        long tokens = n.path("summary").path("tokens").asLong(0);
        if (tokens < 1) throw new JmoeException(who, "the trace holds no tokens", "field summary.tokens");
        TraceLoads t = new TraceLoads(who, n.path("router").asText("native"), E);
        JsonNode layers = n.path("summary").path("layers");
        if (!layers.isArray() || layers.isEmpty()) throw new JmoeException(who, "no layers in the summary", "field summary.layers");
        for (JsonNode l : layers) {
            JsonNode et = l.path("expert_tokens");
            if (!et.isArray() || et.size() != E) {
                throw new JmoeException(who, "layer " + l.path("layer").asInt() + " has " + et.size() + " expert counts, expected " + E, "field summary.layers.expert_tokens");
            }
            double[] s = new double[E];
            for (int e = 0; e < E; e++) {
                long v = et.get(e).asLong(-1);
                if (v < 0) throw new JmoeException(who, "negative or non-numeric expert count", "field summary.layers.expert_tokens");
                s[e] = (double) v / tokens;
            }
            t.shares.add(s);
            t.dropShare.add(Math.max(0, l.path("dropped").asDouble(0)) / tokens);
        }
        return t;
    }

    public String file() { return file; }

    /** The router the trace was recorded with (its spec as given). */
    public String router() { return router; }

    public int experts() { return experts; }

    public int layers() { return shares.size(); }

    /** Rows per token of each expert for simulated MoE layer {@code layer} (trace layer {@code layer mod layers()}). */
    public double[] expertShare(int layer) { return shares.get(Math.floorMod(layer, shares.size())); }

    /** Assignments dropped for a batch of {@code tokens} in that layer. */
    public long dropped(int layer, long tokens) { return Math.round(tokens * dropShare.get(Math.floorMod(layer, shares.size()))); }

    /** Mean experts per token over the recorded layers. */
    public double meanK() {
        double s = 0;
        for (double[] l : shares) for (double v : l) s += v;
        return s / shares.size();
    }
}
