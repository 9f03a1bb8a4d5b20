package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code jmoe logits}: the logits of every position of a token sequence, evaluated in one batch. */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Write the logits of every input position (one batch) as JSON: {\"tokens\": [...], \"logits\": [[...], ...]}.")
final class LogitsCommand implements Runnable {
    @Mixin
    ModelOptions mo;

    @Mixin
    RoutingOptions ro;

    @ArgGroup(multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--tokens", paramLabel = "IDS", description = "Comma-separated token ids (works without a tokenizer).")
        String tokens;

        @Option(names = "--prompt", paramLabel = "TEXT", description = "Text to tokenize (needs a tokenizer).")
        String prompt;
    }

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "FILE", description = "Output JSON file (written atomically).")
    Path out;

    @Override
    public void run() {
        try (Model m = mo.open()) {
            int[] ids = input.tokens != null ? parseTokens(input.tokens, m.config().vocab) : Prompts.encode(m, input.prompt, mo.model);
            int V = m.config().vocab;
            Forward f = new Forward(m, ids.length);
            var stats = ro.apply(m, mo.model, f, false);
            float[] logits = new float[ids.length * V];
            f.eval(ids, logits, true);
            float[][] rows = new float[ids.length][];
            for (int t = 0; t < ids.length; t++) rows[t] = java.util.Arrays.copyOfRange(logits, t * V, (t + 1) * V);
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("model", mo.model.toString());
            o.put("tokens", ids);
            o.put("logits", rows);
            Json.writeFile(out, o, true);
            ro.finish(stats);
            System.err.printf("jmoe: wrote %d x %d logits to %s%n", ids.length, V, out);
        }
    }

    static int[] parseTokens(String s, int vocab) {
        String[] parts = s.split(",");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].trim();
            try {
                ids[i] = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                throw new JmoeException("--tokens", "not a token id: '" + p + "'", "item " + (i + 1));
            }
            if (ids[i] < 0 || ids[i] >= vocab) throw new JmoeException("--tokens", "token id " + ids[i] + " out of range 0.." + (vocab - 1), "item " + (i + 1));
        }
        if (ids.length == 0) throw new JmoeException("--tokens", "no token ids");
        return ids;
    }
}
