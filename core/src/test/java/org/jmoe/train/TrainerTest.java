package org.jmoe.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.Engine;
import org.jmoe.JmoeException;
import org.jmoe.moe.Placement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Whole runs of the micro preset: the log, the exported model as the engine loads it, resuming, every router. */
class TrainerTest {
    @TempDir
    Path dir;

    static final String[] SENTENCES = {
            "The river ran quietly past the old mill.", "She opened the window and let the morning in.",
            "A small dog barked at the passing cart.", "Nobody knew where the letter had come from.",
            "The children counted the stars until they fell asleep.", "He kept his promise, though it cost him dearly.",
            "Rain fell on the roofs of the sleeping town.", "The teacher wrote a long question on the board.",
            "They walked along the shore and talked about the future.", "Bread and cheese were all that remained.",
            "Every lamp in the street went out at once.", "The captain studied the map by candlelight.",
            "An old song drifted from the open door.", "Time is a great teacher, but it kills all its pupils.",
            "If you want to go fast, go alone; if you want to go far, go together.", "The garden was full of bees and roses.",
    };

    /** A small English corpus: documents of 2–5 sentences drawn with a fixed seed, separated by blank lines. */
    static Path corpus(Path dir) throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        StringBuilder sb = new StringBuilder();
        for (int d = 0; d < 160; d++) {
            int n = 2 + r.nextInt(4);
            for (int i = 0; i < n; i++) sb.append(SENTENCES[r.nextInt(SENTENCES.length)]).append(i + 1 < n ? " " : "\n\n");
        }
        Path f = dir.resolve("corpus.txt");
        Files.writeString(f, sb.toString());
        return f;
    }

    @Test
    void microRunLogsEveryStepAndExportsAModelTheEngineRuns() throws Exception {
        Path data = corpus(dir), out = dir.resolve("run");
        List<TrainLog.Entry> seen = new ArrayList<>();
        Trainer.Result res = Trainer.run(data, out, Trainer.Options.defaults("micro", "topk", 20, 7), (e, steps, eta) -> seen.add(e));
        List<String> lines = Files.readAllLines(out.resolve("log.jsonl"));
        assertThat(lines).hasSize(21);
        ObjectMapper om = new ObjectMapper();
        for (int s = 0; s <= 20; s++) {
            JsonNode j = om.readTree(lines.get(s));
            for (String k : new String[]{"step", "loss", "val_ppl", "imbalance_score", "cross_node_fraction", "tokens_per_s"}) assertThat(j.has(k)).as(k).isTrue();
            assertThat(j.get("step").asInt()).isEqualTo(s);
            assertThat(j.get("val_ppl").isNull()).as("val_ppl at step %d", s).isEqualTo(s % 2 != 0);
        }
        assertThat(seen).hasSize(21);
        assertThat(seen.get(20).loss()).isLessThan(seen.get(0).loss());
        assertThat(res.finalValPpl()).isLessThan(seen.get(0).valPpl());
        assertEngineMatchesTrainer(res, out, "topk");
        try (Engine e = Engine.open(res.modelDir())) {
            assertThat(e.tokenizer().decode(e.tokenize("The river ran quietly."))).isEqualTo("The river ran quietly.");
        }
    }

    /**
     * The engine loads both exports (HF directory and GGUF) with their native router, and its logits over one
     * sequence equal the trainer's on the same parameters (and router state): the model routes as it was trained.
     */
    static void assertEngineMatchesTrainer(Trainer.Result res, Path out, String router) {
        TrainConfig c = res.config();
        Placement mesh = Placement.contiguous(c.experts(), 4, 2);
        ParamTensors p = new ParamTensors(c);
        TrainRouter[] routers = TrainRouters.create(org.jmoe.moe.RouterSpec.parse(router, "r"), c, mesh);
        TrainCheckpoint.load(out.resolve("checkpoint/state.safetensors"), p, new AdamW(p, 0.9, 0.95, 1e-8, 0), routers);
        MoeTransformer m = new MoeTransformer(c.withBatch(1), p, routers);
        int[] tokens = new int[c.seqLen()];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (i * 37 + 11) % c.vocab();
        m.forward(tokens, null, RoutingMetrics.homes(mesh, tokens.length), 1);
        for (Path model : new Path[]{res.modelDir(), out.resolve("model.gguf")}) {
            try (Engine e = Engine.open(model)) {
                float[][] got = e.logits(tokens);
                for (int t = 0; t < tokens.length; t++) {
                    for (int v = 0; v < c.vocab(); v++) {
                        // Same F32 arithmetic in another accumulation order (the engine's GEMM tiles): ~1e-6 relative.
                        assertThat((double) got[t][v]).as("%s %s logit [%d][%d]", router, model.getFileName(), t, v)
                                .isCloseTo(m.logits()[t * c.vocab() + v], org.assertj.core.api.Assertions.within(2e-4));
                    }
                }
            }
        }
    }

    @Test
    void aKilledRunResumesWithNoLostSteps() throws Exception {
        Path data = corpus(dir);
        Trainer.Options o = Trainer.Options.defaults("micro", "deepseek:aux_free=true", 6, 3).withCheckpointEvery(1);
        Trainer.run(data, dir.resolve("a"), o, null);
        Path b = dir.resolve("b");
        assertThatThrownBy(() -> Trainer.run(data, b, o, (e, steps, eta) -> {
            if (e.step() == 3) throw new IllegalStateException("killed");
        })).hasMessage("killed");
        Trainer.Result r = Trainer.run(data, b, o, null);
        assertThat(r.resumedFrom()).isEqualTo(3);
        assertThat(Files.readAllBytes(b.resolve("model/model.safetensors"))).isEqualTo(Files.readAllBytes(dir.resolve("a/model/model.safetensors")));
        List<TrainLog.Entry> la = TrainLog.read(dir.resolve("a/log.jsonl")), lb = TrainLog.read(b.resolve("log.jsonl"));
        assertThat(lb).hasSize(7);
        for (int i = 0; i < la.size(); i++) {
            assertThat(lb.get(i).step()).isEqualTo(la.get(i).step());
            assertThat(lb.get(i).loss()).isEqualTo(la.get(i).loss());
            assertThat(lb.get(i).valPpl()).isEqualTo(la.get(i).valPpl());
        }
        // Another run's settings in the same directory are refused.
        assertThatThrownBy(() -> Trainer.run(data, b, Trainer.Options.defaults("micro", "topk", 6, 3), null))
                .isInstanceOf(JmoeException.class).hasMessageContaining("router");
    }

    @Test
    void everyRouterTrainsAndMoGEIsBalancedAtEveryStep() throws Exception {
        Path data = corpus(dir);
        double topkCross = 0, locCross = 0;
        for (String router : new String[]{"switch", "hash", "moge", "locmoe", "deepseek:aux_free=true", "topk"}) {
            Path out = dir.resolve(router.replace(':', '_').replace('=', '_'));
            Trainer.Result r = Trainer.run(data, out, Trainer.Options.defaults("micro", router, 4, 1), null);
            assertThat(r.finalValPpl()).as(router).isFinite();
            List<TrainLog.Entry> log = TrainLog.read(out.resolve("log.jsonl"));
            double cross = log.stream().mapToDouble(TrainLog.Entry::crossNode).average().orElseThrow();
            if (router.equals("moge")) for (TrainLog.Entry e : log) assertThat(e.imbalance()).as("MoGE IS at step %d", e.step()).isZero();
            if (router.equals("locmoe")) locCross = cross;
            if (router.equals("topk")) topkCross = cross;
            assertEngineMatchesTrainer(r, out, router);
        }
        assertThat(locCross).isLessThan(topkCross);
    }
}
