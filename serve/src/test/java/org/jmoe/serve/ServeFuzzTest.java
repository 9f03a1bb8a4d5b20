package org.jmoe.serve;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Coverage-guided fuzz test (Jazzer) of OpenAI request bodies ({@link ServeTargets}). A normal build replays the seeds
 * in {@code src/test/resources/org/jmoe/serve/ServeFuzzTestInputs/openaiRequest/} and every regression input;
 * {@code scripts/fuzz openaiRequest MINUTES} fuzzes it for longer (docs/RELIABILITY.md).
 */
class ServeFuzzTest {
    static ServeTargets targets;

    @BeforeAll
    static void setUp() throws Exception {
        targets = new ServeTargets();
    }

    @AfterAll
    static void tearDown() {
        targets.close();
    }

    @FuzzTest(maxDuration = "${jmoe.fuzz.duration:30s}")
    void openaiRequest(byte[] data) {
        targets.openaiRequest(data);
    }
}
