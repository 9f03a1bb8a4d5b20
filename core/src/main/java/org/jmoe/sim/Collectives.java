package org.jmoe.sim;

import java.util.Arrays;

/**
 * Collective communication over a set of devices on a {@link Hardware} topology. Every device sends and receives
 * at once (links are full duplex); links of different levels (inside a group, across groups, across nodes) are
 * separate hardware and run concurrently.
 * <ul>
 *   <li>Ring algorithms (all-gather, reduce-scatter, all-reduce) run at the slowest link the ring crosses:
 *       all-gather of a buffer of B bytes over g devices = (g−1)·(latency + B/(g·bw)); reduce-scatter the same;
 *       all-reduce = reduce-scatter + all-gather.</li>
 *   <li>Pairwise all-to-all: a device exchanges with each peer; the time is the slowest level's
 *       {@code peers·latency + bytes/bw}, bytes being what the device sends (or receives, if more) at that level.</li>
 * </ul>
 */
public final class Collectives {
    private Collectives() {}

    /** The slowest link between ring neighbours (devices in ascending order, wrapping), or null for one device. */
    public static Link ringLink(Hardware hw, int[] devices) {
        if (devices.length < 2) return null;
        int[] d = devices.clone();
        Arrays.sort(d);
        Link worst = null;
        for (int i = 0; i < d.length; i++) {
            Link l = hw.link(hw.level(d[i], d[(i + 1) % d.length]));
            if (worst == null || l.bandwidthGbs() < worst.bandwidthGbs()
                    || (l.bandwidthGbs() == worst.bandwidthGbs() && l.latencyUs() > worst.latencyUs())) worst = l;
        }
        return worst;
    }

    /** All-gather of a {@code bytes} output buffer (each device contributes bytes/g). */
    public static double allGather(Hardware hw, int[] devices, double bytes) {
        int g = devices.length;
        Link l = ringLink(hw, devices);
        return l == null ? 0 : (g - 1) * (l.latencyUs() * 1e-6 + bytes / g / (l.bandwidthGbs() * 1e9));
    }

    /** Reduce-scatter of a {@code bytes} input buffer. */
    public static double reduceScatter(Hardware hw, int[] devices, double bytes) {
        return allGather(hw, devices, bytes);
    }

    /** All-reduce of a {@code bytes} buffer. */
    public static double allReduce(Hardware hw, int[] devices, double bytes) {
        return 2 * allGather(hw, devices, bytes);
    }

    /** Peers of the busiest device at each level (indexed by {@link Level#ordinal()}). */
    public static int[] peers(Hardware hw, int[] devices) {
        int[] most = new int[Level.values().length];
        for (int a : devices) {
            int[] c = new int[most.length];
            for (int b : devices) if (a != b) c[hw.level(a, b).ordinal()]++;
            for (int i = 0; i < c.length; i++) most[i] = Math.max(most[i], c[i]);
        }
        return most;
    }

    /** All-to-all with {@code bytesPerPeer} to every other device. */
    public static double allToAll(Hardware hw, int[] devices, double bytesPerPeer) {
        int[] p = peers(hw, devices);
        double[] bytes = new double[p.length];
        for (int i = 0; i < p.length; i++) bytes[i] = p[i] * bytesPerPeer;
        return exchange(hw, bytes, p);
    }

    /**
     * One device's side of an all-to-all: {@code bytes[l]} to move at level l (the larger of sent and received) with
     * {@code peers[l]} peers there; the levels run concurrently.
     */
    public static double exchange(Hardware hw, double[] bytes, int[] peers) {
        double t = 0;
        for (Level l : Level.LINKS) {
            int i = l.ordinal();
            if (bytes[i] <= 0) continue;
            t = Math.max(t, hw.link(l).seconds(bytes[i], peers[i]));
        }
        return t;
    }

    /** A point-to-point message between two devices. */
    public static double sendRecv(Hardware hw, int a, int b, double bytes) {
        Level l = hw.level(a, b);
        return l == Level.SELF ? 0 : hw.link(l).seconds(bytes, 1);
    }
}
