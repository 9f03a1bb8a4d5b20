package org.jmoe.calibrate;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;
import org.jmoe.tensor.Parallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The calibration file: what reads back, what is refused, and the crossover rule. */
class CalibrationTest {
    static ObjectNode valid() {
        ObjectMapper om = new ObjectMapper();
        ObjectNode o = om.createObjectNode();
        o.put("format", Calibration.FORMAT);
        o.put("threads", 2);
        o.put("peak_gflops_f32", 100.0);
        o.put("gemm_gflops_f32", 50.0);
        o.put("memory_bandwidth_gbs", 20.0);
        o.putObject("matvec_gbs").put("F32", 15.0).put("Q8_0", 7.5);
        o.putObject("expert_kernels").put("grouped_min_active_per_thread", 3.0);
        ObjectNode t = o.putObject("transport");
        t.putObject("local").put("latency_us", 5.0).put("bandwidth_gbs", 8.0);
        t.putObject("grpc").put("latency_us", 80.0).put("bandwidth_gbs", 1.0);
        o.put("eps_chunk_overhead_us", 40.0);
        return o;
    }

    @Test
    void aWrittenFileReadsBackWithItsFigures(@TempDir Path dir) {
        Path f = dir.resolve("sub/cal.json");
        Calibration.write(f, valid());
        Calibration c = Calibration.read(f);
        assertThat(c.measured()).isTrue();
        assertThat(c.gemmGflopsF32()).isEqualTo(50.0);
        assertThat(c.matvecGbs("Q8_0")).isEqualTo(7.5);
        assertThat(c.matvecGbs("Q6_K")).isEqualTo(15.0); // an unmeasured dtype falls back to the F32 figure
        assertThat(c.groupedMinActivePerThread()).isEqualTo(3.0);
        assertThat(c.transport("grpc").seconds(1e9)).isCloseTo(80e-6 + 1.0, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(Calibration.defaults().measured()).isFalse();
    }

    @Test
    void badFilesAreRefusedNamingTheFieldAndNothingIsWritten(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("cal.json");
        String[][] breakages = {{"format", "\"jmoe-calibration/0\""}, {"peak_gflops_f32", "-1"}, {"gemm_gflops_f32", "\"fast\""},
                {"eps_chunk_overhead_us", "0"}, {"threads", "null"}};
        for (String[] b : breakages) {
            ObjectNode o = valid();
            o.set(b[0], new ObjectMapper().readTree(b[1]));
            Files.writeString(f, o.toString());
            assertThatThrownBy(() -> Calibration.read(f)).as(b[0]).isInstanceOf(JmoeException.class).hasMessageContaining(b[0]);
            Path g = dir.resolve("never.json");
            assertThatThrownBy(() -> Calibration.write(g, o)).isInstanceOf(JmoeException.class);
            assertThat(g).doesNotExist();
        }
        Files.writeString(f, "{\"format\": ");
        assertThatThrownBy(() -> Calibration.read(f)).isInstanceOf(JmoeException.class).hasMessageContaining("not a calibration file");
        assertThatThrownBy(() -> Calibration.read(dir.resolve("missing.json"))).hasMessageContaining("jmoe calibrate");
    }

    @Test
    void crossoverIsWhereGroupedStartsWinningForGood() {
        List<MachineProbe.KernelPoint> pts = List.of(
                new MachineProbe.KernelPoint(1, 1, 2, 1.0, 1.0, 0.5),  // dense wins
                new MachineProbe.KernelPoint(1, 4, 4, 2.0, 0.9, 1.0),  // grouped wins, but...
                new MachineProbe.KernelPoint(2, 4, 6, 3.0, 1.2, 1.1),  // ...dense wins again
                new MachineProbe.KernelPoint(8, 4, 12, 6.0, 2.0, 3.0),
                new MachineProbe.KernelPoint(32, 4, 16, 8.0, 5.0, 7.0));
        assertThat(MachineProbe.crossover(pts, 2)).isEqualTo(6.0);
        List<MachineProbe.KernelPoint> never = List.of(new MachineProbe.KernelPoint(8, 4, 12, 6.0, 3.0, 2.0));
        assertThat(MachineProbe.crossover(never, 2)).isEqualTo(12.0); // beyond anything measured
        assertThat(MachineProbe.crossover(pts, 1)).isEqualTo(2.0);   // one thread: the documented default
    }

    @Test
    void quickProbesGivePlausibleFigures() {
        try (Parallel p = new Parallel(2)) {
            MachineProbe probe = new MachineProbe(p, true);
            try {
                double peak = probe.peakGflopsF32(), gemm = probe.gemmGflopsF32();
                assertThat(peak).isPositive();
                // a GEMM cannot beat the FMA peak of the same threads (10% slack for timer noise)
                assertThat(gemm).isPositive().isLessThan(peak * 1.1);
                assertThat(probe.memoryBandwidthGbs()).isPositive();
                assertThat(probe.handOffLatencyUs()).isPositive();
            } finally {
                probe.close();
            }
        }
    }
}
