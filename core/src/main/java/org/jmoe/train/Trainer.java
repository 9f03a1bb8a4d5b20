package org.jmoe.train;

import org.jmoe.JmoeException;
import org.jmoe.moe.Placement;
import org.jmoe.moe.RouterSpec;
import org.jmoe.tokenizer.Tokenizer;
import org.jmoe.tokenizer.Tokenizers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One training run end to end: corpus → seeded train/validation split → byte-level BPE fitted on the training split
 * → token streams → model → steps of (forward, backward, clip, AdamW, router update) with validation, a resumable
 * checkpoint, {@code log.jsonl}, and the model written for the engine (HF directory and GGUF).
 *
 * <p>Layout of the output directory: {@code model/} (config.json, model.safetensors, tokenizer.json),
 * {@code model.gguf}, {@code log.jsonl}, {@code checkpoint/state.safetensors}. Running again into a directory that
 * holds a checkpoint of the same run resumes after its step.
 */
public final class Trainer {
    /** What a run is asked to do. {@code checkpointEvery} 0: at every 10% of the steps. */
    public record Options(String preset, String router, int devices, int nodes, int steps, long seed, double lr,
                          int checkpointEvery, int valWindows) {
        public static Options defaults(String preset, String router, int steps, long seed) {
            return new Options(preset, router, 4, 2, steps, seed, 3e-3, 0, 32);
        }

        public Options withRouter(String r) {
            return new Options(preset, r, devices, nodes, steps, seed, lr, checkpointEvery, valWindows);
        }

        public Options withCheckpointEvery(int n) {
            return new Options(preset, router, devices, nodes, steps, seed, lr, n, valWindows);
        }
    }

    /** Progress of a step, for the command line. */
    public interface Listener {
        void onStep(TrainLog.Entry e, long steps, double etaSeconds);
    }

    /** How a run ended. */
    public record Result(String router, TrainConfig config, int slots, double finalValPpl, double meanTokensPerS, long resumedFrom, Path modelDir) { }

    /** Vocabulary sizes of the presets' tokenizers. */
    static int vocabFor(String preset) {
        return switch (preset) {
            case "micro" -> 512;
            case "tiny" -> 1024;
            default -> 2048;
        };
    }

    /** The tokenizer is fitted on at most this many characters of the training split (it bounds the fitting time). */
    static final int TOKENIZER_CHARS = 1 << 20;

    public static Result run(Path data, Path out, Options o, Listener listener) {
        if (o.steps() < 1) throw new JmoeException("--steps", "must be at least 1, got " + o.steps());
        RouterSpec spec = RouterSpec.parse(o.router(), "--router");
        // Preset, mesh and router spec are checked before any work (the vocabulary size does not matter to them).
        TrainConfig probe = TrainConfig.preset(o.preset(), 512);
        Placement.checkMesh(o.devices(), o.nodes());
        TrainRouters.create(spec, probe, Placement.contiguous(probe.experts(), o.devices(), o.nodes()));
        Path modelDir = out.resolve("model"), state = out.resolve("checkpoint").resolve("state.safetensors");
        Path tokFile = modelDir.resolve("tokenizer.json");
        try {
            Files.createDirectories(modelDir);
        } catch (IOException e) {
            throw new JmoeException(out.toString(), "cannot create: " + e.getMessage(), "--out");
        }
        TextCorpus corpus = TextCorpus.load(data, 0.1, o.seed());
        boolean resume = Files.isRegularFile(state) && Files.isRegularFile(tokFile);
        if (!resume) {
            String text = corpus.trainText();
            BpeTrainer.fit(text.length() > TOKENIZER_CHARS ? text.substring(0, TOKENIZER_CHARS) : text, vocabFor(o.preset())).write(tokFile);
        }
        Tokenizer tok = Tokenizers.fromDirectory(modelDir);
        int eos = tok.tokenId(BpeTrainer.EOS);
        TrainConfig c = TrainConfig.preset(o.preset(), tok.vocabSize());
        TokenStream train = TokenStream.encode(tok, corpus.train(), eos), val = TokenStream.encode(tok, corpus.validation(), eos);
        if (train.size() < c.seqLen() + 1 || val.size() < c.seqLen() + 1) {
            throw new JmoeException(data.toString(), "too little text: " + train.size() + " training and " + val.size() + " validation tokens for windows of "
                    + (c.seqLen() + 1), "--data");
        }
        Placement mesh = Placement.contiguous(c.experts(), o.devices(), o.nodes());
        TrainRouter[] routers = TrainRouters.create(spec, c, mesh);
        ParamTensors p = new ParamTensors(c);
        p.init(o.seed(), c.layers());
        AdamW opt = new AdamW(p, 0.9, 0.95, 1e-8, 0.1);
        MoeTransformer m = new MoeTransformer(c, p, routers);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("preset", o.preset());
        meta.put("router", o.router());
        meta.put("seed", Long.toString(o.seed()));
        meta.put("steps", Integer.toString(o.steps()));
        meta.put("devices", Integer.toString(o.devices()));
        meta.put("nodes", Integer.toString(o.nodes()));
        meta.put("lr", Double.toString(o.lr()));
        long start = 0;
        if (resume) {
            Map<String, String> saved = TrainCheckpoint.load(state, p, opt, routers);
            for (String k : meta.keySet()) {
                if (!meta.get(k).equals(saved.get(k))) {
                    throw new JmoeException(out.toString(), "holds a run with " + k + " " + saved.get(k) + ", not " + meta.get(k) + " (use another --out to start afresh)", "--out");
                }
            }
            start = Long.parseLong(saved.get("step"));
        }
        TrainLog log = new TrainLog(out.resolve("log.jsonl"), resume ? start : -1);
        LrSchedule lr = new LrSchedule(o.lr(), Math.max(1, o.steps() / 10), o.steps(), 0.1);
        int evalEvery = Math.max(1, o.steps() / 10);
        int ckptEvery = o.checkpointEvery() > 0 ? o.checkpointEvery() : evalEvery;
        int[] home = RoutingMetrics.homes(mesh, c.tokens());
        Validation validation = new Validation(m, val, o.valWindows(), home);
        double lastVal = Double.NaN;
        if (start == 0) {
            int[][] b = train.batch(o.seed(), 0, c.batch(), c.seqLen());
            double loss = m.forward(b[0], b[1], home, c.batch());
            RoutingMetrics rm = RoutingMetrics.of(m, mesh, home);
            lastVal = validation.perplexity();
            TrainLog.Entry e = new TrainLog.Entry(0, loss, lastVal, rm.imbalance(), rm.crossNodeFraction(), 0, 0, m.auxLoss(), rm.dropFraction(), 0);
            log.append(e);
            if (listener != null) listener.onStep(e, o.steps(), Double.NaN);
        }
        double trainNanos = 0;
        long trained = 0;
        for (long s = start + 1; s <= o.steps(); s++) {
            long t0 = System.nanoTime();
            int[][] b = train.batch(o.seed(), s, c.batch(), c.seqLen());
            double loss = m.forward(b[0], b[1], home, c.batch());
            p.zeroGrads(m.pool());
            m.backward();
            double norm = GradClip.clip(m.pool(), p.grads, 1.0);
            double rate = lr.at((int) s - 1);
            opt.step(m.pool(), p.values, p.grads, rate);
            m.afterStep();
            double dt = System.nanoTime() - t0;
            trainNanos += dt;
            trained++;
            RoutingMetrics rm = RoutingMetrics.of(m, mesh, home);
            Double v = null;
            if (s % evalEvery == 0 || s == o.steps()) v = lastVal = validation.perplexity();
            TrainLog.Entry e = new TrainLog.Entry(s, loss, v, rm.imbalance(), rm.crossNodeFraction(), c.tokens() / (dt / 1e9), rate, m.auxLoss(),
                    rm.dropFraction(), norm);
            log.append(e);
            if (s % ckptEvery == 0 || s == o.steps()) TrainCheckpoint.save(state, p, opt, routers, s, meta);
            if (listener != null) listener.onStep(e, o.steps(), (o.steps() - s) * trainNanos / trained / 1e9);
        }
        if (Double.isNaN(lastVal)) lastVal = validation.perplexity();
        ModelExport.writeHf(modelDir, c, p, routers, tokFile, eos);
        ModelExport.writeGguf(out.resolve("model.gguf"), c, p, routers, tokFile, eos);
        double tps = trained == 0 ? 0 : trained * c.tokens() / (trainNanos / 1e9);
        return new Result(o.router(), c, routers[0].slots(), lastVal, tps, start, modelDir);
    }

    /** Validation perplexity over the first windows of the validation stream, in batches of the training batch size. */
    static final class Validation {
        private final MoeTransformer m;
        private final TokenStream val;
        private final int windows;
        private final int[] home;

        Validation(MoeTransformer m, TokenStream val, int maxWindows, int[] home) {
            this.m = m;
            this.val = val;
            this.windows = Math.max(1, Math.min(maxWindows, val.windows(m.config().seqLen())));
            this.home = home;
        }

        double perplexity() {
            TrainConfig c = m.config();
            int B = c.batch(), T = c.seqLen();
            double sum = 0;
            int counted = 0;
            for (int w0 = 0; w0 < windows; w0 += B) {
                int[] in = new int[B * T], tg = new int[B * T];
                // A last partial batch repeats its final window; only the real windows are counted.
                int real = Math.min(B, windows - w0);
                for (int b = 0; b < B; b++) val.window(w0 + Math.min(b, real - 1), T, in, tg, b * T);
                m.forward(in, null, home, B);
                double[] lp = new double[B * T];
                CrossEntropy.targetLogProbs(m.logits(), tg, B * T, c.vocab(), lp);
                for (int i = 0; i < real * T; i++) sum -= lp[i];
                counted += real * T;
            }
            return Math.exp(sum / counted);
        }
    }
}
