package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code jmoe perplexity}: exp of the mean negative log-likelihood over a text, as llama.cpp's perplexity tool
 * computes it: the text is cut into chunks of {@code --ctx} tokens, each evaluated from an empty cache, and
 * the second half of each chunk is scored (every token then has at least ctx/2 tokens of context).
 */
@Command(name = "perplexity", mixinStandardHelpOptions = true, description = "Perplexity of a model over a text file.")
final class PerplexityCommand implements Runnable {
    @Mixin
    ModelOptions mo;

    @Mixin
    RoutingOptions ro;

    @Option(names = {"-f", "--data"}, required = true, paramLabel = "FILE", description = "UTF-8 text file.")
    Path data;

    @Option(names = {"-c", "--ctx"}, paramLabel = "N", defaultValue = "512", description = "Chunk length in tokens (default: ${DEFAULT-VALUE}).")
    int ctx;

    @Option(names = "--max-chunks", paramLabel = "N", description = "Evaluate at most N chunks of --ctx tokens (--chunks is the eps schedule's pipeline chunks).")
    Integer maxChunks;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public void run() {
        if (ctx < 2) throw new IllegalArgumentException("--ctx: must be >= 2, got " + ctx);
        String text = Prompts.readText(data);
        try (Model m = mo.open()) {
            int[] ids = Prompts.encode(m, text, mo.model);
            int chunks = ids.length / ctx;
            if (maxChunks != null) chunks = Math.min(chunks, maxChunks);
            if (chunks == 0) throw new JmoeException(data.toString(), "text has " + ids.length + " tokens, fewer than one chunk of --ctx " + ctx);
            int V = m.config().vocab;
            Forward f = new Forward(m, ctx);
            var stats = ro.apply(m, mo.model, f, json);
            float[] logits = new float[ctx * V];
            double nll = 0;
            long count = 0;
            long t0 = System.nanoTime();
            int first = ctx / 2;
            for (int ch = 0; ch < chunks; ch++) {
                int[] chunk = java.util.Arrays.copyOfRange(ids, ch * ctx, (ch + 1) * ctx);
                f.reset();
                f.eval(chunk, logits, true);
                for (int t = first; t < ctx - 1; t++) {
                    nll -= logSoftmax(logits, t * V, V, chunk[t + 1]);
                    count++;
                }
                if (!json) System.err.printf("jmoe: chunk %d/%d, running perplexity %.4f%n", ch + 1, chunks, Math.exp(nll / count));
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            ro.finish(stats);
            double ppl = Math.exp(nll / count);
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("model", mo.model.toString());
                o.put("router", ro.router);
                o.put("data", data.toString());
                o.put("ctx", ctx);
                o.put("chunks", chunks);
                o.put("scored_tokens", count);
                o.put("perplexity", ppl);
                o.put("nll_per_token", nll / count);
                o.put("tokens_per_s", chunks * (double) ctx / secs);
                System.out.println(Json.write(o));
            } else {
                System.out.printf("perplexity %.4f over %d tokens (%d chunks of %d, %.1f tokens/s)%n", ppl, count, chunks, ctx, chunks * (double) ctx / secs);
            }
        }
    }

    /** log softmax(logits)[target] computed in double. */
    static double logSoftmax(float[] logits, int off, int V, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < V; i++) max = Math.max(max, logits[off + i]);
        double s = 0;
        for (int i = 0; i < V; i++) s += Math.exp(logits[off + i] - max);
        return logits[off + target] - max - Math.log(s);
    }
}
