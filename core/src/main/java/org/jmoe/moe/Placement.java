package org.jmoe.moe;

import org.jmoe.JmoeException;

import java.util.Arrays;

/**
 * The place stage: which device holds each expert, and which node each device is in. Devices are numbered
 * 0..D-1 and split into G nodes of D/G consecutive devices (device d is on node {@code d / (D/G)}).
 *
 * <ul>
 *   <li><b>contiguous</b> — expert e on device {@code e * D / E}: device j holds experts
 *       {@code j·E/D .. (j+1)·E/D − 1}, so MoGE's group j lands whole on device j when the groups equal D;</li>
 *   <li><b>round-robin</b> — expert e on device {@code e mod D}.</li>
 * </ul>
 * A placement may hold replicas (an expert on several devices, as load-aware placements do): {@link #devicesOf}
 * lists every device holding an expert, {@link #device} the first. Telemetry counts a token→expert computation
 * on the expert's first device.
 */
public final class Placement {
    private final String name;
    private final int experts;
    private final int devices;
    private final int nodes;
    private final int[][] holders;

    private Placement(String name, int experts, int devices, int nodes, int[][] holders) {
        this.name = name;
        this.experts = experts;
        this.devices = devices;
        this.nodes = nodes;
        this.holders = holders;
    }

    /** Validates a mesh shape: D >= 1, 1 <= G <= D and G divides D. */
    public static void checkMesh(int devices, int nodes) {
        if (devices < 1 || devices > 4096) throw new JmoeException("--devices", "must be between 1 and 4096, got " + devices);
        if (nodes < 1 || nodes > devices) throw new JmoeException("--nodes", "must be between 1 and the device count " + devices + ", got " + nodes);
        if (devices % nodes != 0) throw new JmoeException("--nodes", nodes + " nodes do not divide " + devices + " devices evenly");
    }

    public static Placement contiguous(int experts, int devices, int nodes) {
        checkMesh(devices, nodes);
        int[][] h = new int[experts][];
        for (int e = 0; e < experts; e++) h[e] = new int[]{(int) ((long) e * devices / experts)};
        return new Placement("contiguous", experts, devices, nodes, h);
    }

    public static Placement roundRobin(int experts, int devices, int nodes) {
        checkMesh(devices, nodes);
        int[][] h = new int[experts][];
        for (int e = 0; e < experts; e++) h[e] = new int[]{e % devices};
        return new Placement("round-robin", experts, devices, nodes, h);
    }

    /** An explicit placement: {@code holders[e]} lists the devices holding expert e (at least one each). */
    public static Placement of(String name, int devices, int nodes, int[][] holders) {
        checkMesh(devices, nodes);
        int[][] h = new int[holders.length][];
        for (int e = 0; e < holders.length; e++) {
            if (holders[e] == null || holders[e].length == 0) throw new JmoeException("placement " + name, "expert " + e + " is on no device");
            for (int d : holders[e]) {
                if (d < 0 || d >= devices) throw new JmoeException("placement " + name, "expert " + e + " on device " + d + ", outside 0.." + (devices - 1));
            }
            h[e] = holders[e].clone();
        }
        return new Placement(name, holders.length, devices, nodes, h);
    }

    /** {@code contiguous} or {@code round-robin} by name (the expert-parallel stage adds load-aware ones). */
    public static Placement named(String name, int experts, int devices, int nodes) {
        return switch (name) {
            case "contiguous" -> contiguous(experts, devices, nodes);
            case "round-robin", "roundrobin", "rr" -> roundRobin(experts, devices, nodes);
            default -> throw new JmoeException("--placement", "unknown placement '" + name + "' (known: contiguous, round-robin)");
        };
    }

    public String name() { return name; }
    public int experts() { return experts; }
    public int devices() { return devices; }
    public int nodes() { return nodes; }
    public int devicesPerNode() { return devices / nodes; }

    /** The (first) device holding expert {@code e}. */
    public int device(int e) { return holders[e][0]; }

    /** Every device holding expert {@code e} (a copy). */
    public int[] devicesOf(int e) { return holders[e].clone(); }

    public int nodeOfDevice(int d) { return d / devicesPerNode(); }

    /**
     * The device token {@code t} of a batch of {@code tokens} lives on under data-parallel attention: the batch
     * is cut into D contiguous shards, token t on device {@code floor(t * D / tokens)} (docs/TRACE.md).
     */
    public int homeDevice(int t, int tokens) { return (int) ((long) t * devices / tokens); }

    /** The node of {@link #homeDevice}. */
    public int homeNode(int t, int tokens) { return nodeOfDevice(homeDevice(t, tokens)); }

    public int nodeOfExpert(int e) { return nodeOfDevice(device(e)); }

    /** Experts whose first holder is device {@code d}, ascending. */
    public int[] expertsOn(int d) {
        return java.util.stream.IntStream.range(0, experts).filter(e -> holders[e][0] == d).toArray();
    }

    @Override
    public String toString() {
        return name + " (" + experts + " experts on " + devices + " devices, " + nodes + " node" + (nodes == 1 ? "" : "s") + ")";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Placement p && p.devices == devices && p.nodes == nodes && Arrays.deepEquals(p.holders, holders);
    }

    @Override
    public int hashCode() { return Arrays.deepHashCode(holders) * 31 + devices * 7 + nodes; }
}
