package org.jmoe.sim;

import java.util.List;

/**
 * The link between one coordinator process and the worker processes it feeds on the same machine (worker JVMs over
 * gRPC, {@code local-cpu:workers=D}): every expert row goes out through it and comes back, one worker's message after
 * another. Its cost depends on what runs beside the transfers: the workers' cores are busy with their experts while
 * other workers' rows are in flight, and every hop of a message then waits for a core. So the link is a set of
 * measured points, {busy seconds, latency µs per worker and message, bandwidth GB/s of the coordinator's side}, and
 * a transfer is charged at the workers' compute time (linear between points, the nearest point outside them).
 *
 * @param points {busy seconds, latency µs, bandwidth GB/s}, ascending busy time, at least one
 */
public record HubLink(List<double[]> points) {
    public HubLink {
        points = List.copyOf(points);
        if (points.isEmpty()) throw new IllegalArgumentException("a hub link needs at least one point");
        for (double[] p : points) {
            if (p.length != 3 || !(p[0] >= 0) || !(p[1] >= 0) || !(p[2] > 0)) throw new IllegalArgumentException("bad hub link point");
        }
    }

    /** One figure whatever runs beside the transfers. */
    public static HubLink of(Link l) {
        return new HubLink(List.of(new double[]{0, l.latencyUs(), l.bandwidthGbs()}));
    }

    /** The link while the workers compute for {@code busySeconds} per message. */
    public Link at(double busySeconds) {
        double[] first = points.getFirst(), last = points.getLast();
        if (busySeconds <= first[0]) return new Link(first[1], first[2]);
        if (busySeconds >= last[0]) return new Link(last[1], last[2]);
        for (int i = 1; i < points.size(); i++) {
            double[] a = points.get(i - 1), b = points.get(i);
            if (busySeconds <= b[0]) {
                double f = (busySeconds - a[0]) / (b[0] - a[0]);
                return new Link(a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]));
            }
        }
        return new Link(last[1], last[2]);
    }
}
