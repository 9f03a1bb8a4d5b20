package org.jmoe.parallel;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Bytes the dispatch and combine stages moved, split by where they went: within a device (no move), to another
 * device of the same node, or to another node. One activation row is {@code hidden × 4} bytes each way.
 */
public final class TransportStats {
    private final AtomicLong intraNode = new AtomicLong();
    private final AtomicLong interNode = new AtomicLong();
    private final AtomicLong local = new AtomicLong();

    public void add(boolean sameDevice, boolean sameNode, long bytes) {
        if (sameDevice) local.addAndGet(bytes);
        else if (sameNode) intraNode.addAndGet(bytes);
        else interNode.addAndGet(bytes);
    }

    /** Bytes that stayed on their device (copies a real transport would not make). */
    public long localBytes() { return local.get(); }

    /** Bytes moved between devices of one node. */
    public long intraNodeBytes() { return intraNode.get(); }

    /** Bytes moved between nodes. */
    public long interNodeBytes() { return interNode.get(); }

    public void reset() {
        intraNode.set(0);
        interNode.set(0);
        local.set(0);
    }
}
