package org.jmoe.sim;

/**
 * One level of the interconnect as a device sees it: the latency of one message and the bandwidth one device can
 * send (and, at the same time, receive) at that level, in one direction.
 *
 * @param latencyUs    microseconds per message
 * @param bandwidthGbs gigabytes per second per device per direction (already derated by the profile's link efficiency)
 */
public record Link(double latencyUs, double bandwidthGbs) {
    public Link {
        if (!(latencyUs >= 0) || !(bandwidthGbs > 0)) throw new IllegalArgumentException("link needs latency >= 0 and bandwidth > 0");
    }

    /** Seconds to send {@code bytes} in {@code messages} messages. */
    public double seconds(double bytes, int messages) {
        return messages * latencyUs * 1e-6 + bytes / (bandwidthGbs * 1e9);
    }
}
