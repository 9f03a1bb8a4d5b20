package org.jmoe.cli;

import org.jmoe.model.Forward;
import org.jmoe.model.Generator;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.model.Sampler;
import org.jmoe.model.Synth;
import org.jmoe.moe.ExpertLoad;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Parallel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code jmoe demo}: runs an MoE model end to end on a built-in default and shows what it did: the text,
 * prompt and generation speed, and which experts served how many tokens in each layer.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run an MoE model end to end and show what it did: text, tokens/s, tokens per expert per layer.",
                "Without --model it synthesises a small random-weight Qwen3-MoE (cached under ~/.cache/jmoe)."})
final class DemoCommand implements Runnable {
    @Option(names = {"-m", "--model"}, paramLabel = "PATH", description = "Model to run (default: a synthesised small qwen3moe).")
    Path model;

    @Option(names = {"-p", "--prompt"}, defaultValue = "Once upon a time, a mixture of experts", paramLabel = "TEXT", description = "Prompt (default: '${DEFAULT-VALUE}').")
    String prompt;

    @Option(names = {"-n", "--n-predict"}, defaultValue = "48", paramLabel = "N", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int n;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: all cores).")
    Integer threads;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        if (threads != null) {
            if (threads < 1 || threads > 1024) throw new IllegalArgumentException("--threads: must be between 1 and 1024, got " + threads);
            Parallel.setGlobalThreads(threads);
        }
        if (n < 0) throw new IllegalArgumentException("--n-predict: must be >= 0, got " + n);
        Path path = model != null ? model : defaultModel();
        try (Model m = ModelLoader.load(path)) {
            var c = m.config();
            int[] ids = m.tokenizer() != null ? m.tokenizer().encode(prompt, m.tokenizer().addsBos()) : new int[]{1, 2, 3, 4};
            Forward f = new Forward(m, Math.min(c.contextLength, ids.length + n + 1));
            ExpertLoad load = new ExpertLoad(c.layers, Math.max(1, c.experts));
            f.setRoutingListener(r -> load.add(r.layer(), r.plan()));
            GenerateCommand.TextStream stream = new GenerateCommand.TextStream(m.tokenizer());
            StringBuilder text = new StringBuilder();
            if (!json) {
                System.out.printf("model: %s (%s, %d layers, %d experts, %d used per token, %s)%n", path, c.archDisplay, c.layers, c.experts, c.expertsUsed, c.routingDescription());
                if (model == null) System.out.println("       synthetic random weights: the text is noise; the routing and the speed are real");
                System.out.print("text:  " + prompt);
                System.out.flush();
            }
            Generator.Result r = new Generator(f).generate(ids, n, new Sampler(new Sampler.Options(0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 7)),
                    m.tokenizer() != null ? m.tokenizer()::isEog : x -> false, id -> {
                        String s = stream.next(id);
                        text.append(s);
                        if (!json) {
                            System.out.print(s);
                            System.out.flush();
                        }
                        return true;
                    });
            text.append(stream.flush());
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("model", path.toString());
                o.put("architecture", c.archDisplay);
                o.put("prompt", prompt);
                o.put("text", text.toString());
                o.put("prompt_tokens", r.promptTokens());
                o.put("generated_tokens", r.generated());
                o.put("prompt_tokens_per_s", r.promptTokensPerSecond());
                o.put("gen_tokens_per_s", r.genTokensPerSecond());
                long[][] counts = new long[c.layers][c.experts];
                for (int l = 0; l < c.layers; l++) for (int e = 0; e < c.experts; e++) counts[l][e] = load.count(l, e);
                o.put("tokens_per_expert", counts);
                System.out.println(Json.write(o));
                return;
            }
            System.out.printf("%n%nprompt: %d tokens at %.1f tokens/s; generation: %d tokens at %.1f tokens/s (%d threads)%n",
                    r.promptTokens(), r.promptTokensPerSecond(), r.generated(), r.genTokensPerSecond(), Parallel.global().threads());
            if (c.experts > 0) printLoad(load, c.experts, c.layers);
            if (c.experts > 0 && c.experts % 4 == 0 && c.expertsUsed % 4 == 0) compareMoGE(m, path, ids, r.tokens());
        }
    }

    /**
     * Routes the prompt and the generated text again, as one batch on a 4-device mesh, with the model's own router
     * and with MoGE (4 groups, one per device), and prints the imbalance of each: MoGE's balance by construction.
     */
    private static void compareMoGE(Model m, Path path, int[] prompt, int[] generated) {
        int[] all = java.util.stream.IntStream.concat(java.util.Arrays.stream(prompt), java.util.Arrays.stream(generated)).toArray();
        org.jmoe.moe.Placement p = org.jmoe.moe.Placement.contiguous(m.config().experts, 4, 1);
        System.out.printf("%nthe same %d tokens as one batch on 4 devices (contiguous experts), per router:%n", all.length);
        for (String spec : new String[]{"native", "moge:groups=4"}) {
            Forward f = new Forward(m, all.length);
            f.setRouter(RoutingOptions.router(spec, m, p, true));
            org.jmoe.moe.RoutingStats s = RoutingOptions.newStats(m, path, spec, p);
            f.setRoutingListener(lr -> s.onLayer(lr.layer(), lr.plan()));
            f.eval(all, new float[m.config().vocab], false);
            System.out.printf("  %-14s imbalance score %.3f, busiest device %.2fx the mean%n", spec, s.meanImbalanceScore(), s.meanMaxOverMean());
        }
        System.out.println("  (MoGE picks the same number of experts in every device's group for every token: IS = 0 by construction;"
                + " try 'jmoe route' to compare more routers)");
    }

    private static void printLoad(ExpertLoad load, int E, int L) {
        System.out.println("\ntokens per expert (rows: layers; columns: experts; each token goes to several experts)");
        if (E % 4 == 0) System.out.println("imbalance: (max - min) / tokens over 4 contiguous expert groups, i.e. 4 devices (MoGE's Imbalance Score)");
        StringBuilder head = new StringBuilder("layer |");
        for (int e = 0; e < E; e++) head.append(String.format("%4d", e));
        System.out.println(head.append(" | imbalance"));
        for (int l = 0; l < L; l++) {
            StringBuilder row = new StringBuilder(String.format("%5d |", l));
            for (int e = 0; e < E; e++) row.append(String.format("%4d", load.count(l, e)));
            row.append(E % 4 == 0 ? String.format(" | %.2f", load.imbalanceScore(l, 4)) : " |");
            System.out.println(row);
        }
    }

    private static Path defaultModel() {
        Path dir = Path.of(System.getProperty("user.home"), ".cache", "jmoe");
        Path p = dir.resolve("demo-qwen3moe-small-q8_0.gguf");
        if (!Files.exists(p)) {
            System.err.println("jmoe: synthesising the demo model (qwen3moe, preset small, Q8_0) into " + p);
            Synth.write("qwen3moe", "small", DType.Q8_0, 2026, p);
        }
        return p;
    }
}
