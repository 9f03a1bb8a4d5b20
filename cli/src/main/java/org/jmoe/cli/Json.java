package org.jmoe.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** JSON output helpers: one object on stdout, or a file written atomically (temp file + rename). */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);

    private Json() {}

    static String write(Object o) {
        try {
            return MAPPER.writeValueAsString(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes {@code o} to {@code out} via a temporary file in the same directory, so a failure leaves nothing. */
    static void writeFile(Path out, Object o, boolean compact) {
        org.jmoe.format.AtomicFiles.write(out, tmp -> {
            try (var os = Files.newOutputStream(tmp)) {
                (compact ? new ObjectMapper() : MAPPER).writeValue(os, o);
            }
        });
    }
}
