package org.jmoe.sim;

/**
 * How far apart two devices are: the same device, the same fully connected group inside a node (an HCCS group,
 * an NVLink domain, the dies of one card), the same node across groups, or different nodes.
 */
public enum Level {
    SELF, GROUP, NODE, CLUSTER;

    /** The levels that need a link (all but SELF). */
    public static final Level[] LINKS = {GROUP, NODE, CLUSTER};
}
