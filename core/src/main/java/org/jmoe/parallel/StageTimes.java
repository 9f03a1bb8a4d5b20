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
    }
}
