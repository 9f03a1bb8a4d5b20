package org.jmoe.parallel;

import org.jmoe.model.ExpertBackend;

/** An expert stage spread over devices (thread groups of this JVM, or worker JVMs): what it measured. */
public interface ParallelExperts extends ExpertBackend {
    /** Per-device dispatch, compute, combine and idle time. */
    StageTimes times();

    /** Bytes moved per hop (local, intra-node, inter-node). */
    TransportStats bytes();

    /** Whether dispatch/combine are pipelined with compute (the EPS schedule). */
    boolean pipelined();

    /** Chunks the last multi-token batch (prefill) was cut into (1 when serial). */
    int chunks();

    /** How rows travel: {@code local} or {@code grpc}. */
    String transport();
}
