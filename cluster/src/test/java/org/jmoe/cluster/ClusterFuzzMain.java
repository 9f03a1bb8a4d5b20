package org.jmoe.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Entry points for Jazzer's standalone driver (scripts/fuzz), one class per target of {@link ClusterTargets}. */
final class ClusterFuzzMain {
    private ClusterFuzzMain() {}

    private static ClusterTargets targets;

    static synchronized ClusterTargets targets() {
        if (targets == null) {
            try {
                targets = new ClusterTargets(Files.createTempDirectory("jmoe-cluster-fuzz"),
                        Path.of(System.getProperty("jmoe.reference", "../../shared/reference"), "models", "qwen3moe.gguf").toAbsolutePath().normalize());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return targets;
    }

    /** {@code --target_class=org.jmoe.cluster.ClusterFuzzMain$WorkerRequest} */
    static final class WorkerRequest {
        public static void fuzzerTestOneInput(byte[] data) { targets().workerRequest(data); }
    }

    /** {@code --target_class=org.jmoe.cluster.ClusterFuzzMain$CoordinatorMessages} */
    static final class CoordinatorMessages {
        public static void fuzzerTestOneInput(byte[] data) { targets().coordinatorMessages(data); }
    }

    /** {@code --target_class=org.jmoe.cluster.ClusterFuzzMain$Peers} */
    static final class Peers {
        public static void fuzzerTestOneInput(byte[] data) { targets().peers(data); }
    }
}
