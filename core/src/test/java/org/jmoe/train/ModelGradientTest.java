package org.jmoe.train;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The whole model's gradient (embeddings, attention, MoE, shared expert, LM head, cross-entropy and the aux loss)
 * against finite differences at sampled parameters of every tensor, tied and untied heads (tolerance:
 * {@link GradCheck}; coordinates whose perturbation changes a routing decision are skipped).
 */
class ModelGradientTest {
    static void check(TrainConfig c, long seed) {
        ParamTensors pt = new ParamTensors(c);
        pt.init(seed, c.layers());
        // A wider embedding than GPT-2's 0.02, so the loss is not flat at initialisation.
        SplittableRandom r = new SplittableRandom(seed);
        for (ParamTensors.Slot s : pt.slots().values()) {
            if (s.name().contains("embed") || s.name().contains("lm_head") || s.name().contains("gate.weight")) {
                for (int i = s.offset(); i < s.offset() + s.size(); i++) pt.values[i] = (float) r.nextGaussian() * 0.5f;
            }
        }
        TrainRouter[] routers = new TrainRouter[c.layers()];
        for (int l = 0; l < c.layers(); l++) routers[l] = new TopKTrainRouter("topk", c.experts(), c.topK(), true, 0.01);
        MoeTransformer m = new MoeTransformer(c, pt, routers);
        m.setPool(org.jmoe.tensor.Parallel.SERIAL);
        int N = c.tokens();
        int[] tokens = new int[N], targets = new int[N];
        for (int i = 0; i < N; i++) {
            tokens[i] = r.nextInt(c.vocab());
            targets[i] = r.nextInt(c.vocab());
        }
        java.util.function.DoubleSupplier loss = () -> m.forward(tokens, targets, null, c.batch());
        loss.getAsDouble();
        int[][] chosen = routing(m, c);
        pt.zeroGrads();
        m.backward();
        float[] g = pt.grads.clone();
        int checked = 0, sampled = 0;
        for (ParamTensors.Slot s : pt.slots().values()) {
            for (int j = 0; j < 4; j++) {
                int i = s.offset() + r.nextInt(s.size());
                float old = pt.values[i];
                pt.values[i] = (float) (old + GradCheck.H);
                loss.getAsDouble();
                boolean same = Arrays.deepEquals(routing(m, c), chosen);
                pt.values[i] = (float) (old - GradCheck.H);
                loss.getAsDouble();
                same &= Arrays.deepEquals(routing(m, c), chosen);
                pt.values[i] = old;
                sampled++;
                if (!same) continue;
                GradCheck.check(s.name() + "[" + (i - s.offset()) + "]", g[i], GradCheck.numeric(pt.values, i, loss));
                checked++;
            }
        }
        org.assertj.core.api.Assertions.assertThat(checked).as("coordinates checked of %d", sampled).isGreaterThan(sampled * 3 / 4);
    }

    static int[][] routing(MoeTransformer m, TrainConfig c) {
        int[][] out = new int[c.layers()][];
        for (int l = 0; l < c.layers(); l++) out[l] = Arrays.copyOf(m.routing(l).expert, c.tokens() * c.topK());
        return out;
    }

    @Test
    void tiedHeadNoSharedExpert() {
        check(new TrainConfig(12, 8, 2, 2, 1, 4, 4, 2, 6, 0, true, 5, 2, 10000, 1e-5f), 21);
    }

    @Test
    void untiedHeadWithSharedExpert() {
        check(new TrainConfig(12, 8, 1, 4, 2, 2, 6, 3, 5, 7, false, 4, 2, 10000, 1e-5f), 22);
    }
}
