package org.jmoe.serve;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * The bounded fuzz run of every build for OpenAI request bodies: seeded mutations of the committed seeds, at the
 * JSON level (a value replaced by one of another type or an extreme, a key dropped) and at the byte level, each held
 * to {@link ServeTargets}'s contract (accepted within bounds, or a 4xx).
 */
class ServeMutationTest {
    static final int ITERATIONS = Integer.getInteger("jmoe.fuzz.iterations", 600);
    static ServeTargets targets;

    @BeforeAll
    static void setUp() throws Exception {
        targets = new ServeTargets();
    }

    @AfterAll
    static void tearDown() {
        targets.close();
    }

    static final String[] VALUES = {"null", "true", "-1", "0", "1e309", "2147483648", "-9223372036854775809", "\"\"", "\"x\"", "[]", "[[]]", "{}",
            "[1e9]", "\"\\u0000\"", "0.5", "[\"a\",\"b\",\"c\",\"d\",\"e\"]", "{\"role\":\"user\"}", "[{\"role\":\"tool\",\"content\":null}]"};

    /** Replaces the value after a random {@code "key":} with another kind of value, or drops bytes. */
    static byte[] mutate(byte[] seed, SplittableRandom r) {
        String s = new String(seed, 1, seed.length - 1, StandardCharsets.UTF_8);
        if (r.nextInt(4) > 0) {
            List<Integer> keys = new ArrayList<>();
            for (int i = s.indexOf("\":"); i >= 0; i = s.indexOf("\":", i + 2)) keys.add(i + 2);
            if (!keys.isEmpty()) {
                int at = keys.get(r.nextInt(keys.size()));
                int end = at;
                int depth = 0;
                boolean str = false;
                for (; end < s.length(); end++) { // the extent of the value: to the next , or } at its depth
                    char c = s.charAt(end);
                    if (str) { if (c == '\\') end++; else if (c == '"') str = false; continue; }
                    if (c == '"') str = true;
                    else if (c == '[' || c == '{') depth++;
                    else if ((c == ']' || c == '}') && depth-- == 0) break;
                    else if (c == ',' && depth == 0) break;
                }
                s = s.substring(0, at) + VALUES[r.nextInt(VALUES.length)] + s.substring(Math.min(end, s.length()));
            }
        } else {
            int at = r.nextInt(Math.max(1, s.length()));
            s = r.nextBoolean() ? s.substring(0, at) : s.substring(0, at) + s.substring(Math.min(s.length(), at + 1 + r.nextInt(8)));
        }
        byte[] body = s.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[body.length + 1];
        out[0] = seed[0];
        System.arraycopy(body, 0, out, 1, body.length);
        return out;
    }

    @Test
    void openaiRequests() throws Exception {
        Path d = Path.of(getClass().getResource("/org/jmoe/serve/ServeFuzzTestInputs/openaiRequest").toURI());
        List<byte[]> seeds = new ArrayList<>();
        try (Stream<Path> s = Files.list(d)) {
            for (Path p : s.sorted().toList()) seeds.add(Files.readAllBytes(p));
        }
        SplittableRandom r = new SplittableRandom(7);
        for (byte[] s : seeds) targets.openaiRequest(s);
        for (int i = 0; i < ITERATIONS; i++) {
            byte[] in = mutate(seeds.get(r.nextInt(seeds.size())), r);
            for (int j = r.nextInt(3); j > 0; j--) in = mutate(in, r);
            targets.openaiRequest(in);
        }
    }
}
