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
        Hardware h = HardwareProfiles.localCpu(c);
        assertThat(h.flops(SimDtype.F32)).isCloseTo(c.gemmGflopsF32() * 1e9, within(1.0)); // the measured GEMM rate, not the FMA peak
        assertThat(h.weightBytesPerS(SimDtype.F32)).isCloseTo(c.matvecGbs("F32") * 1e9, within(1.0));
        assertThat(h.link(Level.CLUSTER).latencyUs()).isEqualTo(c.transport("grpc").latencyUs());
        assertThat(h.diesPerCard()).isEqualTo(1);
        assertThat(h.cardsPerNode()).isEqualTo(1);
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
