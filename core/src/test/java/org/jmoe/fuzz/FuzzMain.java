package org.jmoe.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Entry points for Jazzer's standalone driver ({@code com.code_intelligence.jazzer.Jazzer --target_class=...}):
 * one class per target with the {@code fuzzerTestOneInput(byte[])} method it calls. {@code ./jmoe fuzz} runs them
 * for minutes, coverage-guided, over the seed corpus; the JUnit {@link ParserFuzzTest} replays the corpus in every build.
 */
final class FuzzMain {
    private FuzzMain() {}

    private static ParserTargets targets;

    static synchronized ParserTargets targets() {
        if (targets == null) {
            try {
                targets = new ParserTargets(Files.createTempDirectory("jmoe-fuzz"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return targets;
    }

    /** {@code --target_class=org.jmoe.fuzz.FuzzMain$Gguf} */
    static final class Gguf {
        public static void fuzzerTestOneInput(byte[] data) { targets().gguf(data); }
    }

    /** {@code --target_class=org.jmoe.fuzz.FuzzMain$Checkpoint} */
    static final class Checkpoint {
        public static void fuzzerTestOneInput(byte[] data) {
            byte[][] p = FuzzSeeds.unpackCheckpoint(data);
            targets().checkpoint(new String(p[0], StandardCharsets.UTF_8), p[1]);
        }
    }

    /** {@code --target_class=org.jmoe.fuzz.FuzzMain$TokenizerJson} */
    static final class TokenizerJson {
        public static void fuzzerTestOneInput(byte[] data) { targets().tokenizerJson(data); }
    }

    /** {@code --target_class=org.jmoe.fuzz.FuzzMain$SentencePiece} */
    static final class SentencePiece {
        public static void fuzzerTestOneInput(byte[] data) { targets().sentencePiece(data); }
    }

}
