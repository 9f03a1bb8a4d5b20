package org.jmoe;

import org.jmoe.model.Forward;
import org.jmoe.model.Generator;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.model.Sampler;
import org.jmoe.moe.Router;
import org.jmoe.tensor.Parallel;
import org.jmoe.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.function.IntPredicate;

/**
 * The embedding API: open a model, tokenize, compute logits, generate with a callback per token, choose the
 * router. One {@code Engine} holds one model (memory-mapped) and one sequence's state; it is not thread-safe.
 *
 * <pre>{@code
 * try (Engine e = Engine.open(Path.of("model.gguf"))) {
 *     float[][] logits = e.logits(new int[]{1, 2, 3});
 *     e.generate("Once upon a time", 32, Sampler.Options.greedy(), piece -> { System.out.print(piece); return true; });
 * }
 * }</pre>
 */
public final class Engine implements AutoCloseable {
    /** Receives each generated piece of text; return false to stop. */
    @FunctionalInterface
    public interface TextListener {
        boolean onText(String piece);
    }

    private final Model model;
    private final int context;
    private Router router;

    private Engine(Model model, int context) {
        this.model = model;
        this.context = context;
    }

    /** Opens a GGUF file or a safetensors checkpoint directory, with a context of min(model context, 4096). */
    public static Engine open(Path path) {
        Model m = ModelLoader.load(path);
        return new Engine(m, Math.min(m.config().contextLength, 4096));
    }

    /** Sets the number of threads of the engine's pool (shared by all engines of the JVM). */
    public static void threads(int n) {
        Parallel.setGlobalThreads(n);
    }

    public Model model() { return model; }

    /** The tokenizer, or null if the checkpoint has none. */
    public Tokenizer tokenizer() { return model.tokenizer(); }

    /** Routes every MoE layer with {@code r} instead of the model's own router (null restores it). */
    public Engine router(Router r) {
        this.router = r;
        return this;
    }

    /**
     * Routes every MoE layer with the router of {@code spec} ({@code NAME[:key=value...]}, e.g. {@code moge:groups=8},
     * {@code adak:allocators=a.safetensors}, {@code topk:k=2}) on a single device.
     */
    public Engine router(String spec) {
        return router(org.jmoe.model.Routers.create(spec, model.config(), null));
    }

    public int[] tokenize(String text) {
        Tokenizer t = requireTokenizer();
        return t.encode(text, t.addsBos());
    }

    public String detokenize(int[] ids) {
        return requireTokenizer().decode(ids);
    }

    private Tokenizer requireTokenizer() {
        if (model.tokenizer() == null) throw new JmoeException(model.path().toString(), "checkpoint has no tokenizer");
        return model.tokenizer();
    }

    private Forward newForward(int ctx) {
        Forward f = new Forward(model, ctx);
        if (router != null) f.setRouter(router);
        return f;
    }

    /** Logits for every position of {@code tokens}, evaluated in one batch: {@code [tokens.length][vocab]}. */
    public float[][] logits(int[] tokens) {
        int V = model.config().vocab;
        float[] flat = new float[tokens.length * V];
        newForward(Math.max(1, tokens.length)).eval(tokens, flat, true);
        float[][] out = new float[tokens.length][];
        for (int t = 0; t < tokens.length; t++) out[t] = java.util.Arrays.copyOfRange(flat, t * V, (t + 1) * V);
        return out;
    }

    /** Generates up to {@code maxTokens} token ids after {@code prompt}; {@code onToken} sees each id. */
    public Generator.Result generate(int[] prompt, int maxTokens, Sampler.Options sampling, Generator.TokenListener onToken) {
        Tokenizer t = model.tokenizer();
        IntPredicate stop = t != null ? t::isEog : id -> id == model.config().eosId;
        return new Generator(newForward(context)).generate(prompt, maxTokens, new Sampler(sampling), stop, onToken);
    }

    /** Generates text after {@code prompt}, calling {@code onText} with each decoded piece. */
    public Generator.Result generate(String prompt, int maxTokens, Sampler.Options sampling, TextListener onText) {
        org.jmoe.tokenizer.TokenDecoder text = requireTokenizer().decoder();
        return generate(tokenize(prompt), maxTokens, sampling, id -> {
            String piece = text.next(id); // complete characters only; a split one waits for its last byte
            return piece.isEmpty() || onText.onText(piece);
        });
    }

    @Override
    public void close() {
        model.close();
    }
}
