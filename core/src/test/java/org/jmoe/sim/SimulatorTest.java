package org.jmoe.sim;

import org.jmoe.moe.RouterSpec;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Whole-step simulations: the mechanisms move the step time the way they should. */
class SimulatorTest {
    static SimRequest req(String model, String hw, int cards, SimRequest.Phase phase, int batch, int seq, String plan, String router,
                          SimRequest.Schedule s, SimDtype dtype) {
        ModelProfile m = ModelProfiles.load(model);
        Hardware h = HardwareProfiles.load(hw);
        int dev = cards * h.diesPerCard();
        Plan p = plan == null ? Plan.defaultFor(dev, m) : Plan.parse(plan, dev, cards + " cards", m);
        return new SimRequest(m, h, cards, phase, batch, seq, p, RouterSpec.parse(router, "t"), s, 0, dtype,
                dtype == SimDtype.F32 ? SimDtype.F32 : SimDtype.BF16, Popularity.parse("uniform"), null, 1);
    }

    @Test
    void breakdownAddsUpToTheStep() {
        for (SimRequest.Phase ph : SimRequest.Phase.values()) {
            for (SimRequest.Schedule s : SimRequest.Schedule.values()) {
                SimResult r = Simulator.run(req("deepseek-v2", "h800", 16, ph, 32, 1024, "attn=tp8xpp2,experts=ep8", "native", s, SimDtype.BF16));
                double sum = r.breakdownMs().values().stream().mapToDouble(Double::doubleValue).sum();
                assertThat(sum).as(ph + " " + s).isCloseTo(r.stepMs(), within(1e-9 * r.stepMs()));
                assertThat(r.stepMs()).isPositive();
            }
        }
    }

    @Test
    void aPlanThatDoesNotFitSaysSo() {
        // DeepSeek-V2 in bf16 is ~470 GB: it cannot fit on one 80 GB card
        SimResult one = Simulator.run(req("deepseek-v2", "a100", 1, SimRequest.Phase.DECODE, 1, 1024, null, "native", SimRequest.Schedule.SERIAL, SimDtype.BF16));
        assertThat(one.fits()).isFalse();
        assertThat(one.memoryPerDeviceGb()).isGreaterThan(400);
        SimResult mixtral = Simulator.run(req("mixtral-8x7b", "h100", 8, SimRequest.Phase.DECODE, 8, 1024, null, "native", SimRequest.Schedule.SERIAL, SimDtype.BF16));
        assertThat(mixtral.fits()).isTrue();
    }

    @Test
    void mogeDecodesFasterThanTopKOnTheSameDevices() {
        // small decode batches: top-k's busiest device sets the pace, MoGE's devices are equal
        SimResult moge = Simulator.run(req("pangu-pro-moe", "ascend-800i-a2", 8, SimRequest.Phase.DECODE, 16, 1024, null, "moge", SimRequest.Schedule.SERIAL, SimDtype.W8A8));
        SimResult topk = Simulator.run(req("pangu-pro-moe", "ascend-800i-a2", 8, SimRequest.Phase.DECODE, 16, 1024, null, "topk:k=8", SimRequest.Schedule.SERIAL, SimDtype.W8A8));
        assertThat(moge.routing().get("max_over_mean")).isEqualTo(1.0);
        assertThat(topk.routing().get("max_over_mean")).isGreaterThan(1.2);
        assertThat(topk.breakdownMs().get("experts")).isGreaterThan(moge.breakdownMs().get("experts"));
    }

    @Test
    void epsHidesCommunicationInPrefill() {
        String plan = "attn=dp4xtp2,experts=ep8";
        SimResult serial = Simulator.run(req("deepseek-v2", "h800", 8, SimRequest.Phase.PREFILL, 8, 4096, plan, "native", SimRequest.Schedule.SERIAL, SimDtype.BF16));
        SimResult eps = Simulator.run(req("deepseek-v2", "h800", 8, SimRequest.Phase.PREFILL, 8, 4096, plan, "native", SimRequest.Schedule.EPS, SimDtype.BF16));
        assertThat(eps.chunks()).isGreaterThan(1);
        assertThat(eps.breakdownMs().get("overlap")).isNegative();
        assertThat(eps.tokensPerS() / serial.tokensPerS()).isBetween(1.05, 1.6);
    }

    @Test
    void adaKAndLocMoeAndSwitchMoveTheStepTheirWay() {
        SimResult topk = Simulator.run(req("mixtral-8x7b", "h100", 8, SimRequest.Phase.PREFILL, 8, 2048, "attn=tp8,experts=ep8", "native", SimRequest.Schedule.SERIAL, SimDtype.BF16));
        SimResult ada = Simulator.run(req("mixtral-8x7b", "h100", 8, SimRequest.Phase.PREFILL, 8, 2048, "attn=tp8,experts=ep8", "adak", SimRequest.Schedule.SERIAL, SimDtype.BF16));
        assertThat(ada.routing().get("mean_k")).isCloseTo(1.4, within(0.05));
        assertThat(ada.breakdownMs().get("experts")).isLessThan(0.8 * topk.breakdownMs().get("experts"));
        assertThat(ada.stepMs()).isLessThan(topk.stepMs());
        // LocMoE on two Ascend servers cuts the inter-node share of the all-to-all against top-1 Switch and Hash
        SimResult hash = Simulator.run(req("olmoe", "ascend-910a", 16, SimRequest.Phase.TRAIN, 64, 1024, null, "hash", SimRequest.Schedule.SERIAL, SimDtype.FP16));
        SimResult loc = Simulator.run(req("olmoe", "ascend-910a", 16, SimRequest.Phase.TRAIN, 64, 1024, null, "locmoe", SimRequest.Schedule.SERIAL, SimDtype.FP16));
        SimResult sw = Simulator.run(req("olmoe", "ascend-910a", 16, SimRequest.Phase.TRAIN, 64, 1024, null, "switch", SimRequest.Schedule.SERIAL, SimDtype.FP16));
        assertThat(loc.routing().get("inter_node_share")).isLessThan(hash.routing().get("inter_node_share") - 0.03);
        assertThat(loc.breakdownMs().get("dispatch")).isLessThan(hash.breakdownMs().get("dispatch"));
        assertThat(loc.stepMs()).isLessThan(hash.stepMs());
        assertThat(sw.routing().get("mean_k")).isEqualTo(1.0);
    }
}
