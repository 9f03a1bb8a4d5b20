package org.jmoe.cli;

import org.jmoe.model.Forward;
import org.jmoe.model.Generator;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.model.Sampler;
import org.jmoe.model.Synth;
import org.jmoe.moe.ExpertLoad;
import org.jmoe.moe.Placement;
import org.jmoe.moe.Router;
import org.jmoe.moe.RoutingStats;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Parallel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code jmoe demo}: runs an MoE model end to end and shows what it did: the text, prompt and generation speed,
 * which experts and devices served how many tokens in each layer. By default it runs the model the repository
 * ships in {@code demo/} (a MoGE model trained by {@code jmoe train} on English fortunes, with Ada-K allocators):
 * the text is the model's, every token's four experts fall one on each of 4 devices, and a second pass with the
 * Ada-K allocators shows how many experts a token then uses. Without the bundled files it falls back to a
 * synthesised random-weight Qwen3-MoE.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run an MoE model end to end and show what it did: text, tokens/s, tokens per expert and per device per layer.",
                "Without --model it runs the bundled demo model (demo/" + DemoCommand.MODEL_FILE + ": MoGE, 16 experts, top-4,",
                "trained on English fortunes) and its Ada-K allocators (demo/" + DemoCommand.ALLOCATORS_FILE + "); if those are",
                "missing, a synthesised small random-weight Qwen3-MoE (cached under ~/.cache/jmoe)."})
final class DemoCommand implements Runnable {
    static final String MODEL_FILE = "moge-small-q8_0.gguf", ALLOCATORS_FILE = "adak-allocators.safetensors";

    @Option(names = {"-m", "--model"}, paramLabel = "PATH", description = "Model to run (default: the bundled demo model).")
    Path model;

    @Option(names = "--allocators", paramLabel = "FILE",
            description = "Ada-K allocators for a second pass (default: the bundled ones with the bundled model; 'none' to skip).")
    String allocators;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "Prompt (default: '" + TRAINED_PROMPT + "' for the bundled model).")
    String prompt;

    @Option(names = {"-n", "--n-predict"}, defaultValue = "48", paramLabel = "N", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int n;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: all cores).")
    Integer threads;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    static final String TRAINED_PROMPT = "The secret of life is", SYNTH_PROMPT = "Once upon a time, a mixture of experts";
    private static final int DEVICES = 4;

    @Override
    public void run() {
        if (threads != null) {
            if (threads < 1 || threads > 1024) throw new IllegalArgumentException("--threads: must be between 1 and 1024, got " + threads);
            Parallel.setGlobalThreads(threads);
        }
        if (n < 0) throw new IllegalArgumentException("--n-predict: must be >= 0, got " + n);
        Path bundled = bundledDir().resolve(MODEL_FILE);
        boolean useBundled = model == null && Files.isRegularFile(bundled);
        Path path = model != null ? model : useBundled ? bundled : defaultModel();
        Path alloc = null;
        if (allocators != null && !allocators.equals("none")) alloc = Path.of(allocators);
        else if (allocators == null && useBundled && Files.isRegularFile(bundledDir().resolve(ALLOCATORS_FILE))) alloc = bundledDir().resolve(ALLOCATORS_FILE);
        String text0 = prompt != null ? prompt : (model == null && !useBundled) ? SYNTH_PROMPT : TRAINED_PROMPT;
        try (Model m = ModelLoader.load(path)) {
            var c = m.config();
            int[] ids = m.tokenizer() != null ? m.tokenizer().encode(text0, m.tokenizer().addsBos()) : new int[]{1, 2, 3, 4};
            Placement mesh = c.experts > 0 && c.experts % DEVICES == 0 ? Placement.contiguous(c.experts, DEVICES, 1) : null;
            if (!json) {
                System.out.printf("model: %s (%s, %d layers, %d experts, %d used per token, %s)%n", path, c.archDisplay, c.layers, c.experts, c.expertsUsed,
                        c.nativeRouter != null ? "router " + c.nativeRouter : c.routingDescription());
                if (useBundled) System.out.println("       trained by 'jmoe train --preset small --router moge' on English fortunes (docs/TRAINING.md)");
                else if (model == null) System.out.println("       synthetic random weights (demo/" + MODEL_FILE + " is missing): the text is noise; the routing and the speed are real");
            }
            Pass main = generate(m, ids, text0, null, "native");
            Pass adak = null;
            if (alloc != null && c.experts > 0) adak = generate(m, ids, text0, RoutingOptions.router("adak:allocators=" + alloc, m, mesh, true), "adak");
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("model", path.toString());
                o.put("architecture", c.archDisplay);
                o.put("router", c.nativeRouter != null ? c.nativeRouter : c.routingDescription());
                o.put("prompt", text0);
                o.put("text", main.text);
                o.put("prompt_tokens", main.result.promptTokens());
                o.put("generated_tokens", main.result.generated());
                o.put("prompt_tokens_per_s", main.result.promptTokensPerSecond());
                o.put("gen_tokens_per_s", main.result.genTokensPerSecond());
                o.put("tokens_per_expert", counts(main.load, c.layers, c.experts));
                if (mesh != null) o.put("tokens_per_device", perDevice(main.load, c.layers));
                if (adak != null) {
                    Map<String, Object> a = new LinkedHashMap<>();
                    a.put("allocators", alloc.toString());
                    a.put("text", adak.text);
                    a.put("gen_tokens_per_s", adak.result.genTokensPerSecond());
                    a.put("mean_k", adak.meanK());
                    a.put("mean_k_per_layer", adak.meanKPerLayer());
                    if (mesh != null) a.put("tokens_per_device", perDevice(adak.load, c.layers));
                    o.put("adak", a);
                }
                System.out.println(Json.write(o));
                return;
            }
            System.out.println("text:  " + text0 + main.text);
            System.out.printf("%nprompt: %d tokens at %.1f tokens/s; generation: %d tokens at %.1f tokens/s (%d threads)%n",
                    main.result.promptTokens(), main.result.promptTokensPerSecond(), main.result.generated(), main.result.genTokensPerSecond(),
                    Parallel.global().threads());
            if (c.experts > 0) printLoad(main.load, c.experts, c.layers, main.meanKPerLayer());
            if (adak != null) {
                System.out.printf("%nthe same prompt and sampling seed with Ada-K allocators (adak:allocators=%s, argmax k per token):%n", alloc);
                System.out.println("text:  " + text0 + adak.text);
                System.out.printf("generation: %d tokens at %.1f tokens/s; mean experts per token %.2f of %d (%s per layer)%n",
                        adak.result.generated(), adak.result.genTokensPerSecond(), adak.meanK(), c.expertsUsed, fmt(adak.meanKPerLayer()));
                printLoad(adak.load, c.experts, c.layers, adak.meanKPerLayer());
            }
            if (mesh != null && c.expertsUsed % DEVICES == 0) compareRouters(m, path, mesh, ids, main, alloc);
        }
    }

    /** One generation: its text, result and per-layer expert load (tokens and assignments). */
    private record Pass(String text, Generator.Result result, ExpertLoad load, long[] assignments, long[] rows) {
        double[] meanKPerLayer() {
            double[] k = new double[rows.length];
            for (int l = 0; l < k.length; l++) k[l] = rows[l] == 0 ? 0 : (double) assignments[l] / rows[l];
            return k;
        }

        double meanK() {
            double s = 0;
            int n = 0;
            for (int l = 0; l < rows.length; l++) if (rows[l] > 0) { s += (double) assignments[l] / rows[l]; n++; }
            return n == 0 ? 0 : s / n;
        }
    }

    private Pass generate(Model m, int[] ids, String text0, Router router, String what) {
        var c = m.config();
        Forward f = new Forward(m, Math.min(c.contextLength, ids.length + n + 1));
        if (router != null) f.setRouter(router);
        ExpertLoad load = new ExpertLoad(c.layers, Math.max(1, c.experts));
        long[] assignments = new long[c.layers], rows = new long[c.layers];
        f.setRoutingListener(r -> {
            load.add(r.layer(), r.plan());
            assignments[r.layer()] += r.plan().assignments();
            rows[r.layer()] += r.plan().tokens();
        });
        GenerateCommand.TextStream stream = new GenerateCommand.TextStream(m.tokenizer());
        StringBuilder text = new StringBuilder();
        Generator.Result r = new Generator(f).generate(ids, n, new Sampler(new Sampler.Options(0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 7)),
                m.tokenizer() != null ? m.tokenizer()::isEog : x -> false, id -> {
                    text.append(stream.next(id));
                    return true;
                });
        text.append(stream.flush());
        return new Pass(text.toString(), r, load, assignments, rows);
    }

    /**
     * Routes the prompt and the generated text again, as one batch on a 4-device mesh (contiguous experts), with the
     * model's own router, plain top-K on the same router scores, MoGE with 4 groups and, when given, the Ada-K
     * allocators; prints each one's imbalance, busiest device and mean experts per token.
     */
    private static void compareRouters(Model m, Path path, Placement p, int[] prompt, Pass main, Path alloc) {
        int[] all = java.util.stream.IntStream.concat(java.util.Arrays.stream(prompt), java.util.Arrays.stream(main.result.tokens())).toArray();
        var c = m.config();
        System.out.printf("%nthe same %d tokens as one batch on %d devices (contiguous experts: device d holds experts %d*d ..), per router:%n",
                all.length, DEVICES, c.experts / DEVICES);
        java.util.List<String> specs = new java.util.ArrayList<>(java.util.List.of("native", "topk:k=" + c.expertsUsed, "moge:groups=" + DEVICES));
        if (alloc != null) specs.add("adak:allocators=" + alloc);
        for (String spec : specs) {
            Forward f = new Forward(m, all.length);
            f.setRouter(RoutingOptions.router(spec, m, p, true));
            RoutingStats s = RoutingOptions.newStats(m, path, spec, p);
            f.setRoutingListener(lr -> s.onLayer(lr.layer(), lr.plan()));
            f.eval(all, new float[c.vocab], false);
            System.out.printf("  %-40s imbalance score %.3f, busiest device %.2fx the mean, %.2f experts per token%n",
                    spec.length() > 40 ? spec.substring(0, 37) + "..." : spec, s.meanImbalanceScore(), s.meanMaxOverMean(), s.meanK());
        }
        System.out.println("  (MoGE picks the same number of experts in every device's group for every token: IS = 0 by construction;"
                + " 'jmoe route' compares more routers)");
    }

    private static long[][] counts(ExpertLoad load, int L, int E) {
        long[][] counts = new long[L][E];
        for (int l = 0; l < L; l++) for (int e = 0; e < E; e++) counts[l][e] = load.count(l, e);
        return counts;
    }

    private static long[][] perDevice(ExpertLoad load, int L) {
        long[][] d = new long[L][];
        for (int l = 0; l < L; l++) d[l] = load.perGroup(l, DEVICES);
        return d;
    }

    private static String fmt(double[] v) {
        StringBuilder b = new StringBuilder();
        for (double x : v) b.append(b.isEmpty() ? "" : " / ").append(String.format(java.util.Locale.ROOT, "%.2f", x));
        return b.toString();
    }

    private static void printLoad(ExpertLoad load, int E, int L, double[] meanK) {
        boolean dev = E % DEVICES == 0;
        System.out.println("\ntokens per expert (rows: layers; columns: experts; each token goes to several experts)"
                + (dev ? " and per device (experts in " + DEVICES + " contiguous groups)" : ""));
        StringBuilder head = new StringBuilder("layer |");
        for (int e = 0; e < E; e++) head.append(String.format("%4d", e));
        head.append(" |");
        if (dev) {
            for (int d = 0; d < DEVICES; d++) head.append(String.format(" dev%d", d));
            head.append(" | IS   ");
        }
        System.out.println(head.append(" | k/token"));
        for (int l = 0; l < L; l++) {
            StringBuilder row = new StringBuilder(String.format("%5d |", l));
            for (int e = 0; e < E; e++) row.append(String.format("%4d", load.count(l, e)));
            row.append(" |");
            if (dev) {
                for (long x : load.perGroup(l, DEVICES)) row.append(String.format("%5d", x));
                row.append(String.format(" | %.2f ", load.imbalanceScore(l, DEVICES)));
            }
            row.append(String.format(" | %.2f", meanK[l]));
            System.out.println(row);
        }
        if (dev) System.out.println("IS: MoGE's Imbalance Score, (busiest - idlest device) / tokens");
    }

    /** Where the bundled demo model lives: {@code demo/} of the repository the running jar (or classes) was built in. */
    static Path bundledDir() {
        String home = System.getProperty("jmoe.home");
        if (home != null) return Path.of(home, "demo");
        try {
            Path code = Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            // cli/target/jmoe.jar or cli/target/classes -> the repository root
            Path root = code.getParent() != null && code.getParent().getParent() != null ? code.getParent().getParent().getParent() : null;
            if (root != null && Files.isDirectory(root.resolve("demo"))) return root.resolve("demo");
        } catch (Exception e) {
            // fall through to the working directory
        }
        return Path.of("demo");
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
