package org.jmoe.fuzz;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A bounded, seeded, structure-aware mutation run over every parser target, part of every build (a few seconds
 * each). Mutations favour what breaks parsers: little-endian integers overwritten with boundary values (counts,
 * lengths, offsets, types: 0, 1, -1, 2^31-1, 2^32, 2^60, huge), bytes flipped or set, truncations, duplicated and
 * deleted runs. The coverage-guided runs (Jazzer, minutes per target) are {@code scripts/fuzz}; both share
 * {@link ParserTargets}' contract: load or a clear {@code JmoeException}, nothing else.
 */
class MutationFuzzTest {
    static final int ITERATIONS = Integer.getInteger("jmoe.fuzz.iterations", 400);
    static Path dir;
    static ParserTargets targets;

    @BeforeAll
    static void setUp() throws IOException {
        dir = Files.createTempDirectory("jmoe-mut");
        targets = new ParserTargets(dir);
    }

    @AfterAll
    static void tearDown() throws IOException {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    static final long[] BOUNDARY = {0, 1, 2, 7, 31, 32, 255, 256, 0x7FFF, 0xFFFF, 0x7FFFFFFFL, 0x80000000L, 0xFFFFFFFFL, 1L << 32,
            1L << 40, 1L << 60, Long.MAX_VALUE, -1, -2, Long.MIN_VALUE};

    static byte[] mutate(byte[] seed, SplittableRandom r) {
        byte[] b = seed.clone();
        int n = 1 + r.nextInt(4);
        for (int i = 0; i < n && b.length > 0; i++) {
            int at = r.nextInt(b.length);
            switch (r.nextInt(7)) {
                case 0 -> b[at] ^= (byte) (1 << r.nextInt(8));
                case 1 -> b[at] = (byte) new int[]{0, 0xFF, 0x7F, 0x80, 0x01}[r.nextInt(5)];
                case 2, 3 -> { // a little-endian 4- or 8-byte integer, often at an aligned offset (GGUF fields)
                    int width = r.nextBoolean() ? 4 : 8;
                    if (r.nextBoolean()) at &= ~(width - 1);
                    long v = BOUNDARY[r.nextInt(BOUNDARY.length)];
                    for (int k = 0; k < width && at + k < b.length; k++) b[at + k] = (byte) (v >>> (8 * k));
                }
                case 4 -> b = java.util.Arrays.copyOf(b, at); // truncate
                case 5 -> { // delete a run
                    int len = Math.min(b.length - at, 1 + r.nextInt(64));
                    byte[] c = new byte[b.length - len];
                    System.arraycopy(b, 0, c, 0, at);
                    System.arraycopy(b, at + len, c, at, b.length - at - len);
                    b = c;
                }
                default -> { // duplicate a run in place after itself
                    int len = Math.min(b.length - at, 1 + r.nextInt(64));
                    byte[] c = new byte[b.length + len];
                    System.arraycopy(b, 0, c, 0, at + len);
                    System.arraycopy(b, at, c, at + len, b.length - at);
                    b = c;
                }
            }
        }
        return b;
    }

    static void run(String name, List<byte[]> seeds, Consumer<byte[]> target, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (byte[] s : seeds) target.accept(s); // the seeds themselves load
        for (int i = 0; i < ITERATIONS; i++) {
            byte[] in = mutate(seeds.get(r.nextInt(seeds.size())), r);
            try {
                target.accept(in);
            } catch (AssertionError e) {
                throw new AssertionError(name + " iteration " + i + " (seed " + seed + "): " + e.getMessage(), e.getCause());
            }
        }
    }

    @Test
    void gguf() throws IOException {
        run("gguf", FuzzSeeds.gguf(Files.createTempDirectory(dir, "s")), targets::gguf, 1);
    }

    @Test
    void checkpoint() throws IOException {
        List<byte[]> seeds = FuzzSeeds.checkpoints(Files.createTempDirectory(dir, "s")).stream().map(c -> FuzzSeeds.packCheckpoint(c[0], c[1])).toList();
        run("checkpoint", seeds, d -> {
            byte[][] p = FuzzSeeds.unpackCheckpoint(d);
            targets.checkpoint(new String(p[0], StandardCharsets.UTF_8), p[1]);
        }, 2);
    }

    @Test
    void tokenizerJson() {
        run("tokenizer.json", FuzzSeeds.tokenizerJson(), targets::tokenizerJson, 3);
    }

    @Test
    void sentencePiece() {
        run("tokenizer.model", FuzzSeeds.sentencePiece(), targets::sentencePiece, 4);
    }

    @Test
    void seedsAreValidFiles() throws IOException {
        // A seed corpus of files that do not load would fuzz only the first error path.
        Path d = Files.createTempDirectory(dir, "v");
        for (byte[] g : FuzzSeeds.gguf(d)) {
            Path f = d.resolve("g.gguf");
            Files.write(f, g);
            try (var m = org.jmoe.model.ModelLoader.load(f)) {
                assertThat(m.config().experts).isEqualTo(4);
            }
        }
    }
}
