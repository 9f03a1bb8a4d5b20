package org.jmoe.train;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** A tiny MoE model memorises one small batch: the whole forward/backward/AdamW loop can drive the loss to ~0. */
class OverfitTest {
    @Test
    void tinyModelOverfitsASmallBatch() {
        TrainConfig c = new TrainConfig(16, 32, 1, 2, 1, 16, 16, 4, 32, 32, true, 16, 2, 10000, 1e-5f);
        ParamTensors p = new ParamTensors(c);
        p.init(1, c.layers());
        TrainRouter[] routers = {new TopKTrainRouter("topk", c.experts(), c.topK(), true, 0.01)};
        MoeTransformer m = new MoeTransformer(c, p, routers);
        AdamW opt = new AdamW(p, 0.9, 0.95, 1e-8, 0.0);
        SplittableRandom r = new SplittableRandom(2);
        int N = c.tokens();
        int[] in = new int[N], tg = new int[N];
        for (int i = 0; i < N; i++) {
            in[i] = r.nextInt(c.vocab());
            tg[i] = r.nextInt(c.vocab());
        }
        double first = m.forward(in, tg, null, c.batch());
        LrSchedule lr = new LrSchedule(1e-2, 10, 200, 0.1);
        for (int s = 0; s < 200; s++) {
            m.forward(in, tg, null, c.batch());
            p.zeroGrads();
            m.backward();
            GradClip.clip(p.grads, 1.0);
            opt.step(p.values, p.grads, lr.at(s));
        }
        m.forward(in, tg, null, c.batch());
        assertThat(first).isGreaterThan(2.5); // ≈ ln 16 at initialisation
        assertThat(m.ceLoss()).as("cross-entropy after 200 steps").isLessThan(0.05);
    }
}
