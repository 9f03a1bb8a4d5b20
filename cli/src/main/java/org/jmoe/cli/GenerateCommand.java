package org.jmoe.cli;

import org.jmoe.model.Forward;
import org.jmoe.model.Generator;
import org.jmoe.model.Model;
import org.jmoe.model.Sampler;
import org.jmoe.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code jmoe generate}: stream a completion. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text from a prompt, streaming it to stdout; prints tokens/s to stderr at the end.")
final class GenerateCommand implements Runnable {
    @Mixin
    ModelOptions mo;

    @ArgGroup(multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "Prompt text (needs a tokenizer).")
        String prompt;

        @Option(names = "--tokens", paramLabel = "IDS", description = "Prompt as comma-separated token ids.")
        String tokens;
    }

    @Mixin
    SamplingOptions so;

    @Mixin
    RoutingOptions ro;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "128", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int n;

    @Option(names = {"-c", "--ctx"}, paramLabel = "N", description = "Context size (default: min(model context, 4096)).")
    Integer ctx;

    @Option(names = "--json", description = "Print one JSON object with the text, tokens and rates instead of streaming.")
    boolean json;

    @Override
    public void run() {
        if (n < 0) throw new IllegalArgumentException("--n-predict: must be >= 0, got " + n);
        try (Model m = mo.open()) {
            Tokenizer tok = m.tokenizer();
            int[] prompt = input.tokens != null ? LogitsCommand.parseTokens(input.tokens, m.config().vocab) : Prompts.encode(m, input.prompt, mo.model);
            int context = ctx != null ? ctx : Math.min(m.config().contextLength, 4096);
            if (context < 1) throw new IllegalArgumentException("--ctx: must be positive, got " + context);
            Forward f = new Forward(m, context);
            var stats = ro.apply(m, mo.model, f, false);
            Sampler sampler = new Sampler(so.options());
            PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
            StringBuilder text = new StringBuilder();
            TextStream stream = new TextStream(tok);
            if (!json && input.prompt != null) {
                out.print(input.prompt);
                out.flush();
            }
            Generator.Result r = new Generator(f).generate(prompt, n, sampler, tok != null ? tok::isEog : id -> id == m.config().eosId, id -> {
                String s = stream.next(id);
                text.append(s);
                if (!json) {
                    out.print(s);
                    out.flush();
                }
                return true;
            });
            String rest = stream.flush();
            ro.finish(stats);
            text.append(rest);
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("model", mo.model.toString());
                o.put("prompt_tokens", r.promptTokens());
                o.put("tokens", r.tokens());
                o.put("text", text.toString());
                o.put("stop_reason", r.stopReason());
                o.put("prompt_tokens_per_s", r.promptTokensPerSecond());
                o.put("gen_tokens_per_s", r.genTokensPerSecond());
                o.put("threads", mo.threadCount());
                System.out.println(Json.write(o));
            } else {
                out.println(rest);
                System.err.printf("%njmoe: prompt %d tokens at %.1f tokens/s, generated %d tokens at %.1f tokens/s (%s, %d threads)%n",
                        r.promptTokens(), r.promptTokensPerSecond(), r.generated(), r.genTokensPerSecond(), r.stopReason(), mo.threadCount());
            }
        }
    }

    /** Turns generated ids into text incrementally; without a tokenizer prints the ids. */
    static final class TextStream {
        private final Tokenizer tok;
        private final java.util.List<Integer> ids = new java.util.ArrayList<>();
        private String emitted = "";

        TextStream(Tokenizer tok) { this.tok = tok; }

        String next(int id) {
            if (tok == null) return (ids.isEmpty() ? "" : " ") + id + (ids.add(id) ? "" : "");
            ids.add(id);
            String all = tok.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            // Hold back a trailing replacement character: it may be an incomplete UTF-8 sequence.
            int end = all.length();
            while (end > 0 && all.charAt(end - 1) == '\uFFFD') end--;
            if (end < emitted.length()) return "";
            String s = all.substring(emitted.length(), end);
            emitted = all.substring(0, end);
            return s;
        }

        String flush() {
            if (tok == null) return "";
            String all = tok.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            return all.length() > emitted.length() ? all.substring(emitted.length()) : "";
        }
    }
}
