package org.jmoe.cluster;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Coverage-guided fuzz tests (Jazzer) of the worker's gRPC messages, the coordinator's parsers and the cluster file
 * ({@link ClusterTargets}). A normal build replays the seeds in
 * {@code src/test/resources/org/jmoe/cluster/ClusterFuzzTestInputs/<target>/} and every regression input; {@code
 * scripts/fuzz workerRequest|coordinatorMessages|peers MINUTES} fuzzes one for longer (docs/RELIABILITY.md).
 */
class ClusterFuzzTest {
    static ClusterTargets targets;

    @BeforeAll
    static void setUp() throws IOException {
        targets = ClusterTargets.inTempDir();
    }

    @AfterAll
    static void tearDown() {
        targets.close();
    }

    @FuzzTest(maxDuration = "${jmoe.fuzz.duration:30s}")
    void workerRequest(byte[] data) {
        targets.workerRequest(data);
    }

    @FuzzTest(maxDuration = "${jmoe.fuzz.duration:30s}")
    void coordinatorMessages(byte[] data) {
        targets.coordinatorMessages(data);
    }

    @FuzzTest(maxDuration = "${jmoe.fuzz.duration:30s}")
    void peers(byte[] data) {
        targets.peers(data);
    }
}
