package org.jmoe.cluster;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The bounded fuzz run of every build for the cluster's targets: seeded mutations (bit flips, boundary bytes and
 * integers, truncations, spliced runs) of the committed seeds, each held to {@link ClusterTargets}'s contract.
 */
class ClusterMutationTest {
    static final int ITERATIONS = Integer.getInteger("jmoe.fuzz.iterations", 600);
    static ClusterTargets targets;

    @BeforeAll
    static void setUp() throws IOException {
        targets = ClusterTargets.inTempDir();
    }

    @AfterAll
    static void tearDown() {
        targets.close();
    }

    /** The committed seeds (and findings) of a target. */
    static List<byte[]> seeds(Class<?> owner, String base, String target) throws Exception {
        Path d = Path.of(owner.getResource(base + "/" + target).toURI());
        List<byte[]> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(d)) {
            for (Path p : s.sorted().toList()) out.add(Files.readAllBytes(p));
        }
        return out;
    }

    static byte[] mutate(byte[] seed, SplittableRandom r) {
        byte[] b = seed.clone();
        for (int n = 1 + r.nextInt(3); n > 0 && b.length > 0; n--) {
            int at = r.nextInt(b.length);
            switch (r.nextInt(5)) {
                case 0 -> b[at] ^= (byte) (1 << r.nextInt(8));
                case 1 -> b[at] = (byte) (r.nextBoolean() ? 0xFF : r.nextInt(256));
                case 2 -> { // a boundary little-endian int
                    int v = new int[]{0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 1 << 20, 65536}[r.nextInt(6)];
                    for (int k = 0; k < 4 && at + k < b.length; k++) b[at + k] = (byte) (v >>> (8 * k));
                }
                case 3 -> b = java.util.Arrays.copyOf(b, at);
                default -> { // splice a run from elsewhere in
                    int from = r.nextInt(b.length), len = Math.min(Math.min(b.length - from, b.length - at), 1 + r.nextInt(16));
                    System.arraycopy(b.clone(), from, b, at, len);
                }
            }
        }
        return b;
    }

    static void run(List<byte[]> seeds, Consumer<byte[]> target, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (byte[] s : seeds) target.accept(s);
        for (int i = 0; i < ITERATIONS; i++) target.accept(mutate(seeds.get(r.nextInt(seeds.size())), r));
    }

    static final String BASE = "/org/jmoe/cluster/ClusterFuzzTestInputs";

    @Test
    void workerRequests() throws Exception {
        run(seeds(getClass(), BASE, "workerRequest"), targets::workerRequest, 1);
    }

    @Test
    void coordinatorMessages() throws Exception {
        run(seeds(getClass(), BASE, "coordinatorMessages"), targets::coordinatorMessages, 2);
    }

    @Test
    void peers() throws Exception {
        run(seeds(getClass(), BASE, "peers"), targets::peers, 3);
    }
}
