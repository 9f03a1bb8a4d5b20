package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Model;

import java.nio.file.Path;

/** Turning prompt text into token ids, with a clear error when the checkpoint has no tokenizer. */
final class Prompts {
    private Prompts() {}

    static int[] encode(Model m, String text, Path model) {
        if (m.tokenizer() == null) {
            throw new JmoeException(model.toString(), "checkpoint has no tokenizer: pass token ids with --tokens");
        }
        int[] ids = m.tokenizer().encode(text, m.tokenizer().addsBos());
        if (ids.length == 0) throw new JmoeException("--prompt", "prompt encodes to no tokens");
        return ids;
    }
}
