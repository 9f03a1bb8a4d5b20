package org.jmoe.cli;

import org.jmoe.Engine;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.Sampler;
import org.jmoe.moe.ExpertLoad;
import org.jmoe.moe.RoutingPlan;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The model the repository ships in {@code demo/}: it has learnt English (held-out fortunes), MoGE gives each of the 4
 * devices exactly one of a token's 4 experts, greedy generation repeats itself, and its Ada-K allocators lower k.
 */
class DemoModelTest {
    private static final Path DIR = DemoCommand.bundledDir();

    /** Held-out fortunes (from the validation split of the training run, never trained on), one per blank-line block. */
    private static List<String> heldOut() throws Exception {
        List<String> docs = new ArrayList<>();
        for (String d : Files.readString(DIR.resolve("heldout-fortunes.txt"), StandardCharsets.UTF_8).split("\n\n")) {
            if (!d.isBlank()) docs.add(d.strip());
        }
        return docs;
    }

    @Test
    void predictsHeldOutEnglishFarBetterThanChanceAndBalancesFourDevicesExactly() throws Exception {
        try (Engine e = Engine.open(DIR.resolve(DemoCommand.MODEL_FILE))) {
            Model m = e.model();
            int V = m.config().vocab, E = m.config().experts;
            assertThat(m.config().nativeRouter).isEqualTo("moge:groups=4:k=4");
            double nll = 0;
            long scored = 0;
            ExpertLoad load = new ExpertLoad(m.config().layers, E);
            for (String doc : heldOut()) {
                int[] ids = e.tokenize(doc);
                Forward f = new Forward(m, ids.length);
                f.setRoutingListener(r -> {
                    load.add(r.layer(), r.plan());
                    RoutingPlan p = r.plan();
                    for (int t = 0; t < p.tokens(); t++) {
                        // one expert in each group of 4 contiguous experts: the 4 devices of the mesh
                        boolean[] seen = new boolean[4];
                        assertThat(p.k(t)).isEqualTo(4);
                        for (int s = 0; s < p.k(t); s++) {
                            int d = p.expert(t, s) / (E / 4);
                            assertThat(seen[d]).as("layer %d token %d device %d", r.layer(), t, d).isFalse();
                            seen[d] = true;
                        }
                    }
                });
                float[] logits = new float[ids.length * V];
                f.eval(ids, logits, true);
                for (int t = 0; t + 1 < ids.length; t++) {
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int v = 0; v < V; v++) max = Math.max(max, logits[t * V + v]);
                    for (int v = 0; v < V; v++) sum += Math.exp(logits[t * V + v] - max);
                    nll += max + Math.log(sum) - logits[t * V + ids[t + 1]];
                    scored++;
                }
            }
            double ppl = Math.exp(nll / scored);
            // Uniform guessing scores the vocabulary size (2048); the training run's validation perplexity is in
            // docs/TRAINING.md. A tenth of the uniform baseline leaves room for the sampling of these few fortunes.
            assertThat(scored).isGreaterThan(300);
            assertThat(ppl).as("held-out perplexity").isLessThan(V / 10.0);
            for (int l = 0; l < m.config().layers; l++) {
                long[] dev = load.perGroup(l, 4);
                assertThat(dev).as("layer %d tokens per device", l).containsOnly(load.tokens(l));
                assertThat(load.imbalanceScore(l, 4)).isZero();
            }
        }
    }

    @Test
    void greedyGenerationIsDeterministicEnglishAndTheAllocatorsUseFewerExperts() throws Exception {
        try (Engine e = Engine.open(DIR.resolve(DemoCommand.MODEL_FILE))) {
            StringBuilder a = new StringBuilder(), b = new StringBuilder();
            e.generate("The secret of life is", 24, Sampler.Options.greedy(), s -> { a.append(s); return true; });
            e.generate("The secret of life is", 24, Sampler.Options.greedy(), s -> { b.append(s); return true; });
            assertThat(a.toString()).isEqualTo(b.toString());
            // English text: mostly letters and spaces, several words
            long letters = a.chars().filter(ch -> Character.isLetter(ch) || ch == ' ').count();
            assertThat(letters).isGreaterThan(a.length() * 3L / 4);
            assertThat(a.toString().trim().split("\\s+").length).isGreaterThanOrEqualTo(4);

            e.router("adak:allocators=" + DIR.resolve(DemoCommand.ALLOCATORS_FILE));
            Model m = e.model();
            int[] ids = e.tokenize(String.join("\n", heldOut()));
            long[] assignments = new long[1], rows = new long[1];
            Forward f = new Forward(m, ids.length);
            f.setRouter(org.jmoe.model.Routers.create("adak:allocators=" + DIR.resolve(DemoCommand.ALLOCATORS_FILE), m.config(), null));
            f.setRoutingListener(r -> {
                assignments[0] += r.plan().assignments();
                rows[0] += r.plan().tokens();
            });
            f.eval(ids, new float[ids.length * m.config().vocab], true);
            double meanK = (double) assignments[0] / rows[0];
            assertThat(meanK).as("Ada-K mean experts per token").isLessThan(m.config().expertsUsed).isGreaterThanOrEqualTo(1);
        }
    }
}
