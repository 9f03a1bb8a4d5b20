package org.jmoe.parallel;

/**
 * Wall time per device of the expert-parallel stages, accumulated over layers: dispatch (gathering rows),
 * compute (expert GEMMs), combine (writing results back), and idle (the layer's wall time the device spent
 * waiting for the slowest one). Under the EPS schedule dispatch and combine run on a communication thread
 * beside compute; the overlap is the part of them hidden behind compute.
 */
public final class StageTimes {
    private final long[] dispatch, compute, combine, busy;
    private long layers, layerNanos;
    /** Per model layer: [dispatch, compute, combine, busy][device], and the layer's wall time. */
    private long[][][] byLayer = new long[0][][];
    private long[] layerWall = new long[0];

    public StageTimes(int devices) {
        dispatch = new long[devices];
        compute = new long[devices];
        combine = new long[devices];
        busy = new long[devices];
    }

    public synchronized void add(int d, long dispatchNs, long computeNs, long combineNs, long wallNs) {
        dispatch[d] += dispatchNs;
        compute[d] += computeNs;
        combine[d] += combineNs;
        busy[d] += wallNs;
    }

    public synchronized void addLayer(long ns) {
        layers++;
        layerNanos += ns;
    }

    /** As {@link #add}, also kept for model layer {@code layer}. */
    public synchronized void add(int layer, int d, long dispatchNs, long computeNs, long combineNs, long wallNs) {
        add(d, dispatchNs, computeNs, combineNs, wallNs);
        long[][] l = layer(layer);
        l[0][d] += dispatchNs;
        l[1][d] += computeNs;
        l[2][d] += combineNs;
        l[3][d] += wallNs;
    }

    /** As {@link #addLayer}, also kept for model layer {@code layer}. */
    public synchronized void addLayer(int layer, long ns) {
        addLayer(ns);
        layer(layer);
        layerWall[layer] += ns;
    }

    private long[][] layer(int layer) {
        if (layer >= byLayer.length) {
            int n = Math.max(layer + 1, byLayer.length * 2);
            byLayer = java.util.Arrays.copyOf(byLayer, n);
            layerWall = java.util.Arrays.copyOf(layerWall, n);
        }
        if (byLayer[layer] == null) byLayer[layer] = new long[4][busy.length];
        return byLayer[layer];
    }

    /**
     * Per-layer, per-device stage times in milliseconds ({@code route_ms} from {@code routeNanosPerLayer} where
     * given), the per-device totals, balance and overlap: the {@code stage_times} section of telemetry files.
     */
    public synchronized com.fasterxml.jackson.databind.node.ObjectNode toJson(long[] routeNanosPerLayer) {
        var o = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
        o.put("busy_max_over_mean", busyMaxOverMean());
        o.put("overlap_fraction", overlapFraction());
        var tot = o.putArray("devices");
        for (int d = 0; d < busy.length; d++) {
            tot.addObject().put("device", d).put("dispatch_ms", dispatch[d] / 1e6).put("compute_ms", compute[d] / 1e6)
                    .put("combine_ms", combine[d] / 1e6).put("idle_ms", idleNanos(d) / 1e6);
        }
        var la = o.putArray("layers");
        for (int l = 0; l < byLayer.length; l++) {
            if (byLayer[l] == null) continue;
            var lo = la.addObject();
            lo.put("layer", l);
            if (routeNanosPerLayer != null && l < routeNanosPerLayer.length) lo.put("route_ms", routeNanosPerLayer[l] / 1e6);
            lo.put("wall_ms", layerWall[l] / 1e6);
            var da = lo.putArray("devices");
            for (int d = 0; d < busy.length; d++) {
                da.addObject().put("dispatch_ms", byLayer[l][0][d] / 1e6).put("compute_ms", byLayer[l][1][d] / 1e6)
                        .put("combine_ms", byLayer[l][2][d] / 1e6).put("idle_ms", Math.max(0, layerWall[l] - byLayer[l][3][d]) / 1e6);
            }
        }
        return o;
    }

    public synchronized long dispatchNanos(int d) { return dispatch[d]; }
    public synchronized long computeNanos(int d) { return compute[d]; }
    public synchronized long combineNanos(int d) { return combine[d]; }
    /** The device's wall time inside its layers. */
    public synchronized long busyNanos(int d) { return busy[d]; }
    /** Wall time of the layers' expert stages (route excluded). */
    public synchronized long layerNanos() { return layerNanos; }
    public synchronized long idleNanos(int d) { return Math.max(0, layerNanos - busy[d]); }
    public int devices() { return busy.length; }

    /** max_d busy / mean_d busy: how unevenly the devices were loaded (1 = even). */
    public synchronized double busyMaxOverMean() {
        long max = 0, sum = 0;
        for (long b : busy) { max = Math.max(max, b); sum += b; }
        return sum == 0 ? 0 : max / ((double) sum / busy.length);
    }

    /**
     * Fraction of communication time hidden behind compute: 1 − (busy − compute) / (dispatch + combine), over all
     * devices (0 when serial: nothing overlaps).
     */
    public synchronized double overlapFraction() {
        long comm = 0, exposed = 0;
        for (int d = 0; d < busy.length; d++) {
            comm += dispatch[d] + combine[d];
            exposed += Math.max(0, busy[d] - compute[d]);
        }
        return comm == 0 ? 0 : Math.max(0, Math.min(1, 1 - (double) exposed / comm));
    }

    public synchronized void reset() {
        java.util.Arrays.fill(dispatch, 0);
        java.util.Arrays.fill(compute, 0);
        java.util.Arrays.fill(combine, 0);
        java.util.Arrays.fill(busy, 0);
        layers = 0;
        layerNanos = 0;
        byLayer = new long[0][][];
        layerWall = new long[0];
    }
}
