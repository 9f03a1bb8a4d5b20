package org.jmoe.train;

import org.jmoe.JmoeException;
import org.jmoe.model.ModelConfig;
import org.jmoe.model.Routers;
import org.jmoe.moe.Placement;
import org.jmoe.moe.Router;
import org.jmoe.moe.RouterInput;
import org.jmoe.moe.RouterSpec;
import org.jmoe.moe.RoutingPlan;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The training routers: their gate gradients (finite differences), their defining properties (MoGE's exact quota,
 * Switch's capacity, LocMoE's locality, the aux-free bias), and that each makes the same decisions as the engine's
 * router for the spec it exports, so a trained model routes at inference as it was trained.
 */
class TrainRoutersTest {
    static final int E = 16, H = 32;
    static final TrainConfig C = new TrainConfig(50, H, 2, 2, 1, 16, E, 4, 8, 0, true, 8, 1, 10000, 1e-5f);
    static final Placement MESH = Placement.contiguous(E, 4, 2);

    static TrainRouter[] make(String spec) {
        return TrainRouters.create(RouterSpec.parse(spec, "--router"), C, MESH);
    }

    @Test
    void gateGradients() {
        RouterGradientTest.checkRouter(make("switch:cf=4")[0], 6, E, 31);
        RouterGradientTest.checkRouter(make("moge:groups=4")[0], 6, E, 32);
        RouterGradientTest.checkRouter(make("locmoe:gate=learned:aux=0.3:loc=0.3:cf=8")[0], 8, E, 33);
        RouterGradientTest.checkRouter(make("deepseek:aux_free=true")[0], 6, E, 34);
    }

    @Test
    void grapGateGradientReachesTheInput() {
        TrainRouter r = make("locmoe:gate=grap:cf=8")[0];
        SplittableRandom rnd = new SplittableRandom(35);
        int n = 3;
        float[] x = GradCheck.random(rnd, n * H, 1), z = new float[n * E], dz = GradCheck.random(rnd, n * E, 1), dx = new float[n * H];
        assertThat(r.ownLogits(x, n, H, z)).isTrue();
        r.ownLogitsBackward(dz, n, H, dx);
        GradCheck.check("grap dx", x, dx, () -> {
            r.ownLogits(x, n, H, z);
            return GradCheck.project(z, dz, n * E);
        }, 0, rnd);
    }

    @Test
    void mogeServesExactlyKOverMPerGroup() {
        TrainRouter r = make("moge")[0];
        SplittableRandom rnd = new SplittableRandom(36);
        int n = 64;
        Routing ro = new Routing();
        r.route(GradCheck.random(rnd, n * E, 2), new int[n], new int[n], n, ro);
        int[] loads = ro.loads();
        for (int d = 0; d < 4; d++) {
            int sum = 0;
            for (int e = d * 4; e < d * 4 + 4; e++) sum += loads[e];
            assertThat(sum).isEqualTo(n);
        }
    }

    @Test
    void switchDropsBeyondCapacity() {
        TrainRouter r = make("switch:cf=1")[0];
        int n = 32;
        float[] z = new float[n * E];
        for (int t = 0; t < n; t++) z[t * E + 3] = 5; // every row wants expert 3
        Routing ro = new Routing();
        r.route(z, new int[n], new int[n], n, ro);
        assertThat(ro.loads()[3]).isEqualTo(2); // ⌈32·1/16⌉
        assertThat(ro.assignments()).isEqualTo(2);
    }

    @Test
    void auxFreeBiasMovesTowardsBalance() {
        TrainRouter r = make("deepseek:aux_free=true:gamma=0.01")[0];
        int n = 32;
        float[] z = new float[n * E];
        for (int t = 0; t < n; t++) for (int e = 0; e < 4; e++) z[t * E + e] = 2; // experts 0..3 overloaded
        Routing ro = new Routing();
        r.route(z, new int[n], new int[n], n, ro);
        r.afterStep(0, ro);
        float[] b = r.state(0);
        assertThat(b[0]).isLessThan(0f);
        assertThat(b[10]).isGreaterThan(0f);
    }

    @Test
    void sameDecisionsAsTheEngineRouters() {
        ModelConfig mc = new ModelConfig();
        mc.hidden = H;
        mc.experts = E;
        mc.expertsUsed = 4;
        mc.layers = 2;
        for (String spec : new String[]{"topk", "topk:norm=false", "switch:cf=1", "hash:k=2", "moge", "locmoe:gate=grap", "locmoe:gate=learned:cf=1", "deepseek"}) {
            TrainRouter tr = make(spec)[0];
            SplittableRandom rnd = new SplittableRandom(37);
            int n = 24;
            float[] x = GradCheck.random(rnd, n * H, 1), z = GradCheck.random(rnd, n * E, 1.5);
            int[] tokens = new int[n];
            for (int t = 0; t < n; t++) tokens[t] = rnd.nextInt(50);
            if (tr.ownLogits(x, n, H, z) && spec.startsWith("hash")) z = GradCheck.random(rnd, n * E, 1);
            Routing ro = new Routing();
            tr.route(z, tokens, RoutingMetrics.homes(MESH, n), n, ro);
            Router er = Routers.create(tr.inferenceSpec(), mc, null);
            RouterInput in = new RouterInput();
            in.logits = z;
            in.tokens = n;
            in.experts = E;
            in.hidden = x;
            in.hiddenDim = H;
            in.tokenIds = tokens;
            RoutingPlan plan = new RoutingPlan();
            plan.reset(n, E, er.maxK(E));
            er.route(in, plan);
            for (int t = 0; t < n; t++) {
                int k = 0;
                for (int s = 0; s < ro.k; s++) {
                    int e = ro.expert[t * ro.k + s];
                    if (e < 0) continue;
                    assertThat(plan.expert(t, k)).as("%s token %d slot %d", spec, t, s).isEqualTo(e);
                    assertThat((double) plan.weight(t, k)).as("%s weight", spec).isCloseTo(ro.weight[t * ro.k + s], org.assertj.core.api.Assertions.within(1e-6));
                    k++;
                }
                assertThat(plan.k(t)).as("%s token %d", spec, t).isEqualTo(k);
            }
        }
    }

    @Test
    void badSpecsFailNamingTheRouter() {
        assertThatThrownBy(() -> make("adak:threshold=0.5")).isInstanceOf(JmoeException.class).hasMessageContaining("cannot train");
        assertThatThrownBy(() -> make("topk:bogus=1")).isInstanceOf(JmoeException.class).hasMessageContaining("bogus");
        assertThatThrownBy(() -> make("moge:groups=3")).isInstanceOf(JmoeException.class).hasMessageContaining("groups");
    }
}
