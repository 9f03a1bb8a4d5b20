package org.jmoe.sim;

import org.jmoe.JmoeException;
import org.jmoe.calibrate.Calibration;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** The shipped profiles load and agree with the published figures. */
class ProfilesTest {
    @Test
    void everyBuiltInHardwareProfileLoads() {
        for (String n : HardwareProfiles.NAMES) {
            Hardware h = HardwareProfiles.load(n);
            assertThat(h.name()).isEqualTo(n);
            assertThat(h.memoryBandwidthGbs()).isPositive();
            assertThat(h.usableBytes()).isPositive();
        }
        Hardware h100 = HardwareProfiles.load("h100");
        assertThat(h100.peakTflops().get("bf16")).isCloseTo(989.4, within(1e-9));
        assertThat(h100.devicesPerNode()).isEqualTo(8);
        assertThatThrownBy(() -> HardwareProfiles.load("tpu-v9")).isInstanceOf(JmoeException.class).hasMessageContaining("unknown hardware 'tpu-v9'");
        assertThatThrownBy(() -> HardwareProfiles.load("ascend-910a").flops(SimDtype.F32)).isInstanceOf(JmoeException.class)
                .hasMessageContaining("no fp32 matrix unit");
    }

    @Test
    void localCpuComesFromTheCalibration() {
        Calibration c = Calibration.defaults();
        Hardware h = HardwareProfiles.localCpu(c, 1);
        assertThat(h.flops(SimDtype.F32)).isCloseTo(c.gemmGflopsF32() * 1e9, within(1.0)); // the measured GEMM rate, not the FMA peak
        assertThat(h.weightBytesPerS(SimDtype.F32)).isCloseTo(c.matvecGbs("F32") * 1e9, within(1.0));
        assertThat(h.link(Level.CLUSTER).latencyUs()).isEqualTo(c.transport("grpc").latencyUs());
        assertThat(h.diesPerCard()).isEqualTo(1);
        assertThat(h.cardsPerNode()).isEqualTo(1);
        assertThat(h.efficiency(1)).isEqualTo(1.0); // the defaults have no expert-kernel sweep
        // a mesh of 2 thread groups: the machine's figures split in two, linked by the in-process transport
        Hardware m2 = HardwareProfiles.localCpu(c, 2);
        assertThat(m2.flops(SimDtype.F32)).isCloseTo(c.gemmGflopsF32() * 1e9 / 2, within(1.0));
        assertThat(m2.level(0, 1)).isEqualTo(Level.GROUP);
        assertThat(m2.link(Level.GROUP).latencyUs()).isEqualTo(c.transport("local").latencyUs());
    }

    @Test
    void theExpertKernelSweepBecomesAnEfficiencyByRows() throws Exception {
        // a sweep whose kernels run at exactly half the roofline at 1 row per expert and at the roofline at 16
        Calibration c = Calibration.defaults();
        Hardware base = HardwareProfiles.localCpu(c, 1);
        Roofline r = new Roofline(base, SimDtype.F32);
        long[] one = new long[8], sixteen = new long[64];
        java.util.Arrays.fill(one, 1);
        java.util.Arrays.fill(sixteen, 16);
        double t1 = r.experts(one, 256, 128) * 1e3, t16 = r.experts(sixteen, 256, 128) * 1e3;
        var sweep = new com.fasterxml.jackson.databind.ObjectMapper().readTree("{\"dtype\":\"F32\",\"hidden\":256,\"ffn\":128,\"top_k\":8,\"points\":["
                + "{\"tokens\":1,\"top_k\":8,\"active_experts\":8,\"grouped_ms\":" + 2 * t1 + ",\"dense_ms\":" + 3 * t1 + "},"
                + "{\"tokens\":1,\"top_k\":2,\"active_experts\":2,\"grouped_ms\":1e-9,\"dense_ms\":1e-9},"
                + "{\"tokens\":128,\"top_k\":8,\"active_experts\":64,\"grouped_ms\":" + t16 + ",\"dense_ms\":" + 2 * t16 + "}]}");
        var curve = HardwareProfiles.rowEfficiency(base, sweep);
        assertThat(curve).hasSize(2); // the k=2 crossover probe is not the layer's own load
        Hardware h = base.withRowEfficiency(curve);
        assertThat(h.efficiency(1)).isCloseTo(0.5, within(1e-9));
        assertThat(h.efficiency(16)).isCloseTo(1.0, within(1e-9));
        assertThat(h.efficiency(4)).isCloseTo(0.75, within(1e-9)); // log-linear: 4 is halfway between 1 and 16
        assertThat(h.efficiency(1000)).isCloseTo(1.0, within(1e-9));
    }

    @Test
    void builtInModelsMatchTheirPublishedParameterCounts() {
        for (String n : ModelProfiles.NAMES) {
            ModelProfile m = ModelProfiles.load(n);
            // norms and biases are left out; published figures are rounded to 2-3 digits
            assertThat(m.totalParams() / m.publishedTotal()).as(n + " total").isCloseTo(1.0, within(0.03));
            assertThat(m.activeParams() / m.publishedActive()).as(n + " active").isCloseTo(1.0, within(0.05));
        }
        ModelProfile p = ModelProfiles.load("pangu-pro-moe");
        assertThat(p.groups()).isEqualTo(8);
        assertThat(p.routing()).isEqualTo("moge");
        assertThat(p.deploymentDtype()).containsEntry("ascend-800i-a2", "w8a8");
    }
}
