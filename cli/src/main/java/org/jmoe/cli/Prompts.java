package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Model;

import java.nio.file.Path;

/** Turning prompt text into token ids, with a clear error when the checkpoint has no tokenizer. */
final class Prompts {
    private Prompts() {}

    /** Reads a UTF-8 text file, with one-line errors for a missing, unreadable or non-UTF-8 file. */
    static String readText(Path file) {
        try {
            return java.nio.file.Files.readString(file);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new JmoeException(file.toString(), "not valid UTF-8 text");
        } catch (java.io.IOException e) {
            throw new JmoeException(file.toString(), java.nio.file.Files.exists(file) ? "cannot read: " + e.getMessage() : "no such file");
        }
    }

    static int[] encode(Model m, String text, Path model) {
        if (m.tokenizer() == null) {
            throw new JmoeException(model.toString(), "checkpoint has no tokenizer: pass token ids with --tokens");
        }
        int[] ids = m.tokenizer().encode(text, m.tokenizer().addsBos());
        if (ids.length == 0) throw new JmoeException("--prompt", "prompt encodes to no tokens");
        return ids;
    }
}
