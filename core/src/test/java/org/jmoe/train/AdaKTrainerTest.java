package org.jmoe.train;

import org.jmoe.moe.AdaKAllocators;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Ada-K by PPO: the policy gradients against finite differences, and a short run on a trained micro model. */
class AdaKTrainerTest {
    @TempDir
    Path dir;

    @Test
    void ppoAndWarmStartGradients() {
        SplittableRandom r = new SplittableRandom(41);
        int E = 4, H = 5, rows = 6;
        AllocatorPolicy pol = new AllocatorPolicy(new boolean[]{true}, E, H, 0);
        float[] w = pol.w[0];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        float[] xs = GradCheck.random(r, rows * H, 1);
        int[] ks = new int[rows], labels = new int[rows];
        double[] logp = new double[rows], adv = new double[rows];
        for (int i = 0; i < rows; i++) {
            ks[i] = 1 + r.nextInt(E);
            labels[i] = 1 + r.nextInt(E);
            logp[i] = Math.log(0.2 + 0.1 * r.nextDouble());
            adv[i] = r.nextGaussian();
        }
        // A wide clip range keeps every sample unclipped, where the loss is differentiable; λ large enough to matter.
        float[] g = new float[w.length];
        pol.ppoGrad(0, xs, ks, logp, adv, rows, 100, 0.5, g);
        GradCheck.check("ppo dW", w, g, () -> pol.ppoGrad(0, xs, ks, logp, adv, rows, 100, 0.5, new float[w.length]), 0, r);
        float[] gw = new float[w.length];
        pol.warmGrad(0, xs, labels, rows, gw);
        GradCheck.check("warm dW", w, gw, () -> pol.warmGrad(0, xs, labels, rows, new float[w.length]), 0, r);
    }

    @Test
    void trainsAllocatorsTheEngineLoadsAndReportsTheirEffect() throws Exception {
        Path data = TrainerTest.corpus(dir);
        Trainer.Result model = Trainer.run(data, dir.resolve("run"), Trainer.Options.defaults("micro", "topk", 10, 3), null);
        Path out = dir.resolve("alloc.safetensors");
        AdaKTrainer.Options o = new AdaKTrainer.Options(3, 2, 32, 1, 1e-3, 0.1, 3e-3, 0.2, 0.95, 2, 20, 0.3, 4);
        AdaKTrainer.Result r = AdaKTrainer.run(model.modelDir(), data, out, o, null);
        TrainConfig c = model.config();
        AdaKAllocators a = AdaKAllocators.load(out, c.layers(), c.experts(), c.hidden(), new boolean[]{true});
        assertThat(a.layer(0)).hasSize(c.experts() * c.hidden());
        assertThat(r.defaultK()).isEqualTo(4);
        assertThat(r.meanKPerLayer()).hasSize(1);
        assertThat(r.meanK()).isBetween(1.0, 16.0);
        assertThat(r.expertFlopsSaved()).isCloseTo(1 - r.meanK() / 4, org.assertj.core.api.Assertions.within(1e-12));
        assertThat(r.valPpl()).isFinite().isGreaterThan(1);
        assertThat(r.valPplTopK()).isFinite().isGreaterThan(1);
    }

    @Test
    void trainsAllocatorsForAMoGEModelAgainstItsOwnRoutingAndRefusesOtherRouters() throws Exception {
        Path data = TrainerTest.corpus(dir);
        Trainer.Result model = Trainer.run(data, dir.resolve("moge"), Trainer.Options.defaults("micro", "moge:groups=4", 6, 3), null);
        Path out = dir.resolve("moge.safetensors");
        AdaKTrainer.Options o = new AdaKTrainer.Options(2, 2, 32, 1, 1e-3, 0.1, 3e-3, 0.2, 0.95, 2, 20, 0.5, 4);
        AdaKTrainer.Result r = AdaKTrainer.run(model.modelDir(), data, out, o, null);
        // The reference perplexity is the model's own (MoGE) routing: the engine's native router on the same windows.
        try (org.jmoe.Engine e = org.jmoe.Engine.open(model.modelDir())) {
            org.jmoe.model.Model m = e.model();
            TextCorpus corpus = TextCorpus.load(data, 0.1, 1);
            TokenStream val = TokenStream.encode(m.tokenizer(), corpus.validation(), m.tokenizer().eosId());
            double want = AdaKTrainer.perplexity(new org.jmoe.model.Forward(m, 32), val, 32, m.config().vocab, 4);
            assertThat(r.valPplTopK()).isEqualTo(want);
        }
        assertThat(r.meanK()).isBetween(1.0, 16.0);
        Trainer.Result hash = Trainer.run(data, dir.resolve("hash"), Trainer.Options.defaults("micro", "hash", 2, 3), null);
        assertThatThrownBy(() -> AdaKTrainer.run(hash.modelDir(), data, dir.resolve("h.safetensors"), o, null))
                .isInstanceOf(org.jmoe.JmoeException.class).hasMessageContaining("hash");
    }
}
