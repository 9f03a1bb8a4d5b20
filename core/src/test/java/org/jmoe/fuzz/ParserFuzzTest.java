package org.jmoe.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Coverage-guided fuzz tests (Jazzer). In a normal build they replay the seed corpus
 * ({@code src/test/resources/org/jmoe/fuzz/ParserFuzzTestInputs/<target>/}, valid files from {@link FuzzSeeds})
 * and every regression input found so far; with {@code JAZZER_FUZZ=1} one target is fuzzed for its
 * {@code maxDuration} ({@code ./jmoe fuzz --target T --minutes M} drives that, see docs/RELIABILITY.md).
 */
class ParserFuzzTest {
    static Path dir;
    static ParserTargets targets;

    @BeforeAll
    static void setUp() throws IOException {
        dir = Files.createTempDirectory("jmoe-fuzz");
        targets = new ParserTargets(dir);
    }

    @AfterAll
    static void tearDown() throws IOException {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @FuzzTest(maxDuration = "${jmoe.fuzz.duration:30s}")
    void gguf(byte[] data) {
        targets.gguf(data);
    }

    @FuzzTest(maxDuration = "${jmoe.fuzz.duration:30s}")
    void checkpoint(byte[] data) {
        byte[][] parts = FuzzSeeds.unpackCheckpoint(data);
        targets.checkpoint(new String(parts[0], StandardCharsets.UTF_8), parts[1]);
    }

    @FuzzTest(maxDuration = "${jmoe.fuzz.duration:30s}")
    void tokenizerJson(byte[] data) {
        targets.tokenizerJson(data);
    }

    @FuzzTest(maxDuration = "${jmoe.fuzz.duration:30s}")
    void sentencePiece(byte[] data) {
        targets.sentencePiece(data);
    }
}
