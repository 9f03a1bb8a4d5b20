package org.jmoe.train;

import org.jmoe.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Training routers' gate gradients and the MoE block's backward pass against finite differences. The routing
 * (which experts are selected) is piecewise constant; a coordinate whose ±h perturbation changes the selection is
 * skipped (the analytic gradient is the derivative inside the region, which is what training uses).
 */
class RouterGradientTest {
    /** L = Σ c·w + aux for a router over random logits; checks ∂L/∂z. */
    static void checkRouter(TrainRouter router, int n, int e, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] z = GradCheck.random(r, n * e, 1.5);
        int k = router.slots();
        float[] c = GradCheck.random(r, n * k, 1);
        int[] tokens = new int[n];
        for (int t = 0; t < n; t++) tokens[t] = r.nextInt(50);
        int[] home = new int[n];
        Routing ro = new Routing();
        java.util.function.DoubleSupplier loss = () -> {
            router.route(z, tokens, home, n, ro);
            return GradCheck.project(ro.weight, c, n * k) + ro.auxLoss + ro.locLoss;
        };
        loss.getAsDouble();
        int[] chosen = Arrays.copyOf(ro.expert, n * k);
        float[] dz = new float[n * e];
        router.backward(ro, z, c, dz);
        int checked = 0;
        for (int i = 0; i < z.length; i++) {
            if (Math.abs(z[i]) < 2 * GradCheck.H) continue; // LocMoE's ReLU has a kink at 0: no derivative to compare
            float old = z[i];
            z[i] = (float) (old + GradCheck.H);
            loss.getAsDouble();
            boolean same = Arrays.equals(Arrays.copyOf(ro.expert, n * k), chosen);
            z[i] = (float) (old - GradCheck.H);
            loss.getAsDouble();
            same &= Arrays.equals(Arrays.copyOf(ro.expert, n * k), chosen);
            z[i] = old;
            if (!same) continue;
            GradCheck.check(router.spec() + " dz[" + i + "]", dz[i], GradCheck.numeric(z, i, loss));
            checked++;
        }
        assertThat(checked).as("coordinates checked").isGreaterThan(z.length / 2);
    }

    @Test
    void softmaxTopKNotRenormalised() {
        checkRouter(new TopKTrainRouter("topk", 6, 2, false, 0), 5, 6, 11);
    }

    @Test
    void softmaxTopKRenormalised() {
        checkRouter(new TopKTrainRouter("topk:norm=true", 6, 3, true, 0), 5, 6, 12);
    }

    @Test
    void softmaxTopKWithLoadBalancingLoss() {
        checkRouter(new TopKTrainRouter("topk:aux=0.5", 6, 2, true, 0.5), 8, 6, 13);
    }

    @Test
    void moeBlockWithSharedExpert() {
        SplittableRandom r = new SplittableRandom(14);
        TrainConfig c = new TrainConfig(10, 6, 1, 2, 1, 4, 4, 2, 5, 7, true, 4, 1, 10000, 1e-5f);
        ParamTensors pt = new ParamTensors(c);
        pt.init(3, 1);
        // Larger gate weights than the init, so routing weights vary enough to matter.
        ParamTensors.Layer w = pt.layers[0];
        for (int i = w.router(); i < w.router() + c.experts() * c.hidden(); i++) pt.values[i] *= 3;
        MoeBlock block = new MoeBlock(c, new TopKTrainRouter("topk", 4, 2, true, 0.1));
        int n = 5;
        float[] x = GradCheck.random(r, n * c.hidden(), 1), proj = GradCheck.random(r, n * c.hidden(), 1), out = new float[n * c.hidden()];
        int[] tokens = new int[n], home = new int[n];
        java.util.function.DoubleSupplier loss = () -> {
            block.forward(Parallel.SERIAL, pt.values, w, x, tokens, home, n, out);
            return GradCheck.project(out, proj, out.length) + block.routing.auxLoss;
        };
        loss.getAsDouble();
        int[] chosen = Arrays.copyOf(block.routing.expert, n * 2);
        float[] dx = new float[x.length];
        block.backward(Parallel.SERIAL, pt.values, pt.grads, w, x, proj, dx, n);
        // Check inputs and every parameter tensor, skipping selection changes.
        int checked = 0;
        for (float[][] pair : new float[][][]{{x, dx}, {pt.values, pt.grads}}) {
            float[] v = pair[0], g = pair[1];
            for (int i = 0; i < v.length; i++) {
                float old = v[i];
                v[i] = (float) (old + GradCheck.H);
                loss.getAsDouble();
                boolean same = Arrays.equals(Arrays.copyOf(block.routing.expert, n * 2), chosen);
                v[i] = (float) (old - GradCheck.H);
                loss.getAsDouble();
                same &= Arrays.equals(Arrays.copyOf(block.routing.expert, n * 2), chosen);
                v[i] = old;
                if (!same) continue;
                GradCheck.check("moe[" + i + "]", g[i], GradCheck.numeric(v, i, loss));
                checked++;
            }
        }
        assertThat(checked).isGreaterThan((x.length + pt.size()) * 3 / 4);
    }
}
