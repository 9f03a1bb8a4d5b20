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
        assertThat(m2.groupedFromActive()).isInfinite(); // a device of one thread never groups its experts
        assertThat(h.groupedFromActive()).isEqualTo(c.groupedMinActivePerThread() * 2);
        // worker JVMs on this machine: the same split, linked by gRPC on loopback
        Hardware w2 = HardwareProfiles.load("local-cpu:workers=2");
        assertThat(w2.diesPerCard()).isEqualTo(2);
        assertThat(w2.level(0, 1)).isEqualTo(Level.GROUP);
        // their rows go through the coordinator: the hub link (without a grpc_workers probe, the loopback's figures)
        Hardware w2c = HardwareProfiles.localCpu(c, 2, true);
        assertThat(w2c.hub().latencyUs()).isEqualTo(c.transport("grpc").latencyUs());
        assertThat(w2c.hub().bandwidthGbs()).isEqualTo(c.transport("grpc").bandwidthGbs());
        assertThat(w2c.link(Level.GROUP).latencyUs()).isEqualTo(c.transport("local").latencyUs());
        assertThat(m2.hub()).isNull();
        assertThatThrownBy(() -> HardwareProfiles.load("local-cpu:workers=0")).isInstanceOf(JmoeException.class).hasMessageContaining("workers must be");
    }

    @Test
    void theExpertKernelSweepBecomesAComputeEfficiencyByRows() throws Exception {
        // defaults: F32 GEMM 55 GFLOP/s, tiles of 3 rows. A layer of 256 x 128 experts (3·128·256 = 98,304 weights):
        // 8 tokens at top-8 on 32 experts are 2 rows each, one tile: 32·2·3·98,304 = 18,874,368 FLOP = 343.17 us at
        // the GEMM rate; 128 tokens on all 64 are 16 rows, 18 in tiles: 64·2·18·98,304 = 226,492,416 FLOP = 4.1180 ms.
        Calibration c = Calibration.defaults();
        Hardware base = HardwareProfiles.localCpu(c, 1);
        double t2 = 18_874_368 / 55e9 * 1e3, t16 = 226_492_416 / 55e9 * 1e3;
        var sweep = new com.fasterxml.jackson.databind.ObjectMapper().readTree("{\"dtype\":\"F32\",\"hidden\":256,\"ffn\":128,\"top_k\":8,\"points\":["
                + "{\"tokens\":1,\"top_k\":8,\"active_experts\":8,\"grouped_ms\":100,\"dense_ms\":100},"
                + "{\"tokens\":1,\"top_k\":2,\"active_experts\":2,\"grouped_ms\":1e-9,\"dense_ms\":1e-9},"
                + "{\"tokens\":8,\"top_k\":8,\"active_experts\":32,\"grouped_ms\":" + 2 * t2 + ",\"dense_ms\":" + 3 * t2 + "},"
                + "{\"tokens\":128,\"top_k\":8,\"active_experts\":64,\"grouped_ms\":" + t16 / 1.25 + ",\"dense_ms\":" + 2 * t16 + "}]}");
        var curve = HardwareProfiles.rowEfficiency(base, sweep);
        // the k=2 crossover probe is not the layer's own load; one row per expert runs the matrix-vector kernels
        assertThat(curve).hasSize(2);
        Hardware h = base.withRowEfficiency(curve);
        assertThat(h.efficiency(2)).isCloseTo(0.5, within(1e-9)); // the faster kernel took twice the tiled compute
        assertThat(h.efficiency(16)).isCloseTo(1.25, within(1e-9)); // faster than whole tiles: not capped
        assertThat(h.efficiency(Math.sqrt(32))).isCloseTo(0.875, within(1e-9)); // log-linear: halfway between 2 and 16
        assertThat(h.efficiency(1000)).isCloseTo(1.25, within(1e-9));
        // a one-row product streams its weights at the matrix-vector rate, however slow the tiles were
        Roofline r = new Roofline(h, SimDtype.F32);
        // (defaults: weights at 20 GB/s, activations at the 25 GB/s memory read, 5 us per operator)
        assertThat(r.gemm(1, 512, 1024)).isCloseTo(5e-6 + 512.0 * 1024 * 4 / 20e9 + 1536.0 * 4 / 25e9, within(1e-12));
    }

    @Test
    void theGroupedKernelStreamsTheModelPassFormatAtThePassRate() throws Exception {
        // the pass: 1 GB in 100 ms over 1000 products = 10 GB/s gross; with 5 us per product (the F32 hand-off) the
        // dense kernel's net rate is 1 GB / (0.1 - 0.005) s
        Calibration c = calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2},\"matvec_call_us\":{\"F32\":5},"
                + "\"matvec_model\":{\"dtype\":\"F32\",\"gbs\":10,\"ms\":100,\"bytes\":1e9,\"products\":1000}");
        Hardware h = HardwareProfiles.localCpu(c, 1);
        assertThat(h.weightBytesPerS(SimDtype.F32)).isCloseTo(1e9 / 0.095, within(1.0));
        assertThat(h.groupedWeightBytesPerS(SimDtype.F32)).isCloseTo(10e9, within(1.0));
        // another format keeps one rate for both kernels; a cut machine's devices have their share
        assertThat(h.groupedWeightBytesPerS(SimDtype.Q8_0)).isEqualTo(h.weightBytesPerS(SimDtype.Q8_0));
        assertThat(HardwareProfiles.localCpu(c, 2).groupedWeightBytesPerS(SimDtype.F32)).isCloseTo(5e9, within(1.0));
        // 8 experts of one row each, grouped (8 >= 2 per thread x 2 threads): their 3 x 512 x 1024 F32 weights at 10 GB/s
        long[] rows = new long[64];
        for (int e = 0; e < 8; e++) rows[e] = 1;
        double weights = 8 * 3 * 512.0 * 1024 * 4 / 10e9;
        assertThat(new Roofline(h, SimDtype.F32).experts(rows, 1024, 512)).isGreaterThan(weights).isLessThan(weights * 1.1);
    }

    @Test
    void theDecodeProbeSetsTheOneTokenLayerToWhatItMeasured() throws Exception {
        // the probe: 8 experts of 3 x 512 x 1024 Q8_0 weights (34 bytes per 32) per layer, 0.9 ms per layer; the
        // model pass beside it says something else (12 GB/s), which the decode probe overrides for the grouped kernel
        long bytes = 8L * 3 * 512 * 1024 / 32 * 34;
        String dm = "\"decode_model\":{\"dtype\":\"Q8_0\",\"top_k\":8,\"hidden\":1024,\"ffn\":512,\"layers\":16,\"ms_per_layer\":0.9,\"bytes_per_layer\":" + bytes + "}";
        Calibration c = calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2},\"matvec_call_us\":{\"F32\":5},"
                + "\"matvec_model\":{\"dtype\":\"Q8_0\",\"gbs\":12,\"ms\":100,\"bytes\":1.2e9,\"products\":3000}," + dm);
        Hardware h = HardwareProfiles.localCpu(c, 1);
        long[] rows = new long[64];
        for (int e = 0; e < 64; e += 8) rows[e] = 1;
        // the simulator's one-token layer of the model's k experts (grouped: 8 >= 2 per thread x 2 threads) takes the probe's time
        assertThat(new Roofline(h, SimDtype.Q8_0).experts(rows, 1024, 512)).isCloseTo(0.9e-3, within(1e-12));
        // and its weights stream at the probe's rate less the activations and three overheads of 5 us
        double act = 4.0 * 8 * (2 * 1024 + 6 * 512) / 20e9; // the file's memory read, 20 GB/s
        assertThat(h.groupedWeightBytesPerS(SimDtype.Q8_0)).isCloseTo(bytes / (0.9e-3 - act - 15e-6), within(1.0));
        // four experts (still grouped) read half the weights and pass half the activations, with the same overheads
        long[] four = new long[64];
        four[3] = four[20] = four[40] = four[63] = 1;
        double weights = 0.9e-3 - act - 15e-6;
        assertThat(new Roofline(h, SimDtype.Q8_0).experts(four, 1024, 512)).isCloseTo(weights / 2 + act / 2 + 15e-6, within(1e-12));
        // the F32 dense kernel keeps the stream rate of its own probe; without the decode probe, the grouped kernel the pass's 12 GB/s
        assertThat(h.groupedWeightBytesPerS(SimDtype.F32)).isEqualTo(h.weightBytesPerS(SimDtype.F32));
        Calibration without = calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2},\"matvec_call_us\":{\"F32\":5},"
                + "\"matvec_model\":{\"dtype\":\"Q8_0\",\"gbs\":12,\"ms\":100,\"bytes\":1.2e9,\"products\":3000}");
        assertThat(HardwareProfiles.localCpu(without, 1).groupedWeightBytesPerS(SimDtype.Q8_0)).isCloseTo(12e9, within(1.0));
    }

    @Test
    void aFormatsOwnFixedCostIsWhatComesOutOfItsModelPass() throws Exception {
        // a Q8_0 pass of 1.2 GB in 100 ms over 3000 products; the F32 operator overhead is 5 us
        String pass = ",\"expert_kernels\":{\"grouped_min_active_per_thread\":2},\"matvec_model\":{\"dtype\":\"Q8_0\",\"gbs\":12,\"ms\":100,\"bytes\":1.2e9,\"products\":3000}";
        // Q8_0's own products cost nothing fixed: the pass streams at its gross 12 GB/s (not 1.2 GB / 85 ms = 14.1)
        Hardware none = HardwareProfiles.localCpu(calibration(pass + ",\"matvec_call_us\":{\"F32\":5,\"Q8_0\":0}"), 1);
        assertThat(none.weightBytesPerS(SimDtype.Q8_0)).isCloseTo(12e9, within(1.0));
        // 2 us of its own: 6 ms of the pass is fixed cost
        Hardware two = HardwareProfiles.localCpu(calibration(pass + ",\"matvec_call_us\":{\"F32\":5,\"Q8_0\":2}"), 1);
        assertThat(two.weightBytesPerS(SimDtype.Q8_0)).isCloseTo(1.2e9 / 0.094, within(1.0));
        // never more than the operator overhead the simulator charges per product; without a figure of its own, that one
        Hardware more = HardwareProfiles.localCpu(calibration(pass + ",\"matvec_call_us\":{\"F32\":5,\"Q8_0\":9}"), 1);
        assertThat(more.weightBytesPerS(SimDtype.Q8_0)).isCloseTo(1.2e9 / 0.085, within(1.0));
        Hardware f32only = HardwareProfiles.localCpu(calibration(pass + ",\"matvec_call_us\":{\"F32\":5}"), 1);
        assertThat(f32only.weightBytesPerS(SimDtype.Q8_0)).isCloseTo(1.2e9 / 0.085, within(1.0));
    }

    @Test
    void theEngineRunsElementwiseWorkInlineAndAnAcceleratorLaunchesIt() throws Exception {
        Calibration c = calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2},\"matvec_call_us\":{\"F32\":5}");
        Hardware cpu = HardwareProfiles.localCpu(c, 1);
        Roofline engine = new Roofline(cpu, SimDtype.F32);
        // norms and sums on the calling thread: bytes at the memory read (20 GB/s), no operator handed to the pool
        assertThat(engine.elementwise(1e6, 5)).isCloseTo(1e6 / 20e9, within(1e-15));
        assertThat(engine.memory(1e6, 5)).isCloseTo(1e6 / 20e9 + 5 * 5e-6, within(1e-15));
        // a GPU launches each of them as a kernel
        Hardware h100 = HardwareProfiles.load("h100");
        Roofline gpu = new Roofline(h100, SimDtype.BF16);
        assertThat(gpu.elementwise(1e6, 5)).isCloseTo(gpu.memory(1e6, 5), within(1e-15))
                .isCloseTo(1e6 / h100.memoryBytesPerS() + 5 * h100.kernelOverheadUs() * 1e-6, within(1e-15));
    }

    @Test
    void theMeshsOneTokenLayerSetsItsHubLatency() throws Exception {
        // a decode step's layer through two one-thread devices took 1 ms beyond the busier device's compute: 2 x 2
        // messages and the token's 8 rows of 1024 floats out and back at the in-process copy's 10 GB/s
        String ek = ",\"expert_kernels\":{\"grouped_min_active_per_thread\":2,\"hidden\":1024,\"ffn\":512,\"top_k\":8,\"experts\":64,"
                + "\"mesh_decode\":{\"tokens\":1,\"devices\":2,\"ms\":3,\"compute_ms\":[2,1.5],\"beyond_ms\":1.0}}";
        Hardware m2 = HardwareProfiles.localCpu(calibration(ek), 2);
        double rows = 8 * 1024 * 4;
        assertThat(m2.hub()).isNotNull();
        assertThat(m2.hub().bandwidthGbs()).isEqualTo(10.0);
        assertThat(m2.hub().latencyUs()).isCloseTo((1000 - 2 * rows / 10e9 * 1e6) / 4, within(1e-9));
        // the one-token layer's exchange out and back is the measured time beyond compute
        assertThat(2 * m2.hub().seconds(rows, 2)).isCloseTo(1e-3, within(1e-12));
        // never below the in-process hand-off (5 us); no probe, no hub: devices linked by the in-process transport
        Hardware fast = HardwareProfiles.localCpu(calibration(ek.replace("\"beyond_ms\":1.0", "\"beyond_ms\":0.001")), 2);
        assertThat(fast.hub().latencyUs()).isEqualTo(5.0);
        assertThat(HardwareProfiles.localCpu(calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2}"), 2).hub()).isNull();
        // one device has no hub; worker JVMs keep theirs from the worker probe
        assertThat(HardwareProfiles.localCpu(calibration(ek), 1).hub()).isNull();
    }

    @Test
    void theAttentionProbeSetsPrefillAttention() throws Exception {
        String kernels = ",\"expert_kernels\":{\"grouped_min_active_per_thread\":2}";
        Calibration c = calibration(kernels + ",\"attention_probe\":{\"tokens\":128,\"projection_gflops\":50,\"core_gflops\":5}");
        Hardware h = HardwareProfiles.localCpu(c, 1);
        assertThat(h.attention()).isEqualTo(new Hardware.AttentionRates(50, 5));
        // each device of a cut machine has its share, as of every other rate
        assertThat(HardwareProfiles.localCpu(c, 2).attention()).isEqualTo(new Hardware.AttentionRates(25, 2.5));
        assertThat(HardwareProfiles.localCpu(calibration(kernels), 1).attention()).isNull();
        // the blocks timed beside the experts' devices set a cut machine's attention: thread groups from the mesh
        // probe, worker JVMs from the worker probe; one device keeps the one-device probe
        Calibration beside = calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2,"
                + "\"mesh_attention\":{\"projection_gflops\":40,\"core_gflops\":4},\"worker_attention\":{\"projection_gflops\":30,\"core_gflops\":3}}"
                + ",\"attention_probe\":{\"tokens\":128,\"projection_gflops\":50,\"core_gflops\":5}");
        assertThat(HardwareProfiles.localCpu(beside, 1).attention()).isEqualTo(new Hardware.AttentionRates(50, 5));
        assertThat(HardwareProfiles.localCpu(beside, 2).attention()).isEqualTo(new Hardware.AttentionRates(20, 2));
        assertThat(HardwareProfiles.localCpu(beside, 2, true).attention()).isEqualTo(new Hardware.AttentionRates(15, 1.5));
        // a file without them: the one-device probe for every cut
        assertThat(HardwareProfiles.localCpu(c, 2, true).attention()).isEqualTo(new Hardware.AttentionRates(25, 2.5));
        // decode steps: attention took 8 ms a step alone, 10 beside the devices and 12 beside the worker JVMs
        Calibration steps = calibration(",\"decode_attention\":{\"steps\":48,\"attention_ms\":8},\"expert_kernels\":{\"grouped_min_active_per_thread\":2,"
                + "\"mesh_decode\":{\"tokens\":1,\"devices\":2,\"attention_ms\":10},\"worker_decode\":{\"tokens\":1,\"devices\":2,\"attention_ms\":12}}"
                + ",\"attention_probe\":{\"tokens\":128,\"projection_gflops\":50,\"core_gflops\":5}");
        assertThat(HardwareProfiles.localCpu(steps, 1).attention().decodeFactor()).isEqualTo(1.0);
        assertThat(HardwareProfiles.localCpu(steps, 2).attention()).isEqualTo(new Hardware.AttentionRates(25, 2.5, 1.25));
        assertThat(HardwareProfiles.localCpu(steps, 2, true).attention()).isEqualTo(new Hardware.AttentionRates(25, 2.5, 1.5));
        // prefill of 128 tokens, one sequence: per layer the projections 2·T·H·(qDim + 2·kvDim) + 2·T·qDim·H FLOPs at
        // 50 GFLOP/s, the core T(T+1)/2 pairs of 4·heads·headDim FLOPs at 5 GFLOP/s
        ModelProfile m = ModelProfiles.load("olmoe");
        double T = 128, H = m.hidden(), q = (double) m.heads() * m.headDim(), kv = (double) m.kvHeads() * m.headDim();
        double want = m.layers() * ((2 * T * H * (q + 2 * kv) + 2 * T * q * H) / 50e9 + T * (T + 1) / 2 * 4 * m.heads() * m.headDim() / 5e9) * 1e3;
        SimRequest r = new SimRequest(m, h, 1, SimRequest.Phase.PREFILL, 1, 128, Plan.defaultFor(1, m), org.jmoe.moe.RouterSpec.parse("native", "t"),
                SimRequest.Schedule.SERIAL, 0, SimDtype.F32, SimDtype.F32, Popularity.parse("uniform"), null, 1);
        assertThat(Simulator.run(r).breakdownMs().get("attention")).isCloseTo(want, within(want * 1e-9));
        // decode keeps the GEMM and activation model
        SimRequest d = new SimRequest(m, h, 1, SimRequest.Phase.DECODE, 1, 128, Plan.defaultFor(1, m), org.jmoe.moe.RouterSpec.parse("native", "t"),
                SimRequest.Schedule.SERIAL, 0, SimDtype.F32, SimDtype.F32, Popularity.parse("uniform"), null, 1);
        SimRequest d0 = new SimRequest(m, HardwareProfiles.localCpu(calibration(kernels), 1), 1, SimRequest.Phase.DECODE, 1, 128, Plan.defaultFor(1, m),
                org.jmoe.moe.RouterSpec.parse("native", "t"), SimRequest.Schedule.SERIAL, 0, SimDtype.F32, SimDtype.F32, Popularity.parse("uniform"), null, 1);
        assertThat(Simulator.run(d).breakdownMs().get("attention")).isEqualTo(Simulator.run(d0).breakdownMs().get("attention"));
        // beside devices measured 1.5x slower in decode steps: the cost model's decode attention, 1.5 times
        Hardware slower = new Hardware(h.name(), h.description(), h.peakTflops(), h.memoryBandwidthGbs(), h.memoryGb(), h.diesPerCard(), h.cardsPerNode(),
                h.groupCards(), h.links(), h.computeEfficiency(), h.memoryEfficiency(), h.weightStreamGbs(), h.kernelOverheadUs(), h.epsChunkOverheadUs(),
                h.mmaTileRows(), h.usableMemoryFraction(), h.rowEfficiency(), h.groupedFromActive(), h.groupedDtype(), h.groupedOtherFromActive(), h.hub(),
                h.attention().withDecodeFactor(1.5));
        SimRequest d15 = new SimRequest(m, slower, 1, SimRequest.Phase.DECODE, 1, 128, Plan.defaultFor(1, m), org.jmoe.moe.RouterSpec.parse("native", "t"),
                SimRequest.Schedule.SERIAL, 0, SimDtype.F32, SimDtype.F32, Popularity.parse("uniform"), null, 1);
        assertThat(Simulator.run(d15).breakdownMs().get("attention")).isCloseTo(1.5 * Simulator.run(d).breakdownMs().get("attention"), within(1e-9));
        // and prefill is not touched by it
        SimRequest p15 = new SimRequest(m, slower, 1, SimRequest.Phase.PREFILL, 1, 128, Plan.defaultFor(1, m), org.jmoe.moe.RouterSpec.parse("native", "t"),
                SimRequest.Schedule.SERIAL, 0, SimDtype.F32, SimDtype.F32, Popularity.parse("uniform"), null, 1);
        assertThat(Simulator.run(p15).breakdownMs().get("attention")).isCloseTo(want, within(want * 1e-9));
    }

    @Test
    void theMeshDeviceProbeSetsTheCutMachinesExpertCompute() throws Exception {
        String sweep = "\"hidden\":1024,\"ffn\":512,\"dtype\":\"F32\",\"top_k\":8,\"grouped_min_active_per_thread\":2,\"points\":["
                + "{\"tokens\":32,\"top_k\":8,\"active_experts\":64,\"grouped_ms\":20,\"dense_ms\":22},"
                + "{\"tokens\":128,\"top_k\":8,\"active_experts\":64,\"grouped_ms\":30,\"dense_ms\":35}]";
        long[] sixteen = new long[32];
        java.util.Arrays.fill(sixteen, 16);
        Calibration plain = calibration(",\"expert_kernels\":{" + sweep + "}");
        double before = new Roofline(HardwareProfiles.localCpu(plain, 2), SimDtype.F32).experts(sixteen, 1024, 512);
        // the probe timed two one-thread devices, 32 experts of 16 rows each, at 1.3 times what the whole machine's
        // curve gives them: the cut machine's devices now take 1.3 times as long on those loads
        String rows = java.util.Arrays.toString(sixteen).replace(" ", "");
        Calibration probed = calibration(",\"expert_kernels\":{" + sweep + ",\"mesh_points\":[{\"tokens\":128,\"devices\":2,\"ms\":"
                + (1.3 * before * 1e3) + ",\"device_rows\":[" + rows + "," + rows + "]}]}");
        double after = new Roofline(HardwareProfiles.localCpu(probed, 2), SimDtype.F32).experts(sixteen, 1024, 512);
        assertThat(after).isCloseTo(1.3 * before, within(0.01 * before));
        // the whole machine, and a cut into a device count the probe did not run, keep the sweep's curve
        assertThat(new Roofline(HardwareProfiles.localCpu(probed, 1), SimDtype.F32).experts(sixteen, 1024, 512))
                .isEqualTo(new Roofline(HardwareProfiles.localCpu(plain, 1), SimDtype.F32).experts(sixteen, 1024, 512));
        assertThat(new Roofline(HardwareProfiles.localCpu(probed, 4), SimDtype.F32).experts(sixteen, 1024, 512))
                .isEqualTo(new Roofline(HardwareProfiles.localCpu(plain, 4), SimDtype.F32).experts(sixteen, 1024, 512));
    }

    @Test
    void theWorkerLayerProbeSetsTheWorkersComputeAndTheirLinksBandwidth() throws Exception {
        String sweep = "\"hidden\":1024,\"ffn\":512,\"dtype\":\"F32\",\"top_k\":8,\"grouped_min_active_per_thread\":2,\"points\":["
                + "{\"tokens\":32,\"top_k\":8,\"active_experts\":64,\"grouped_ms\":20,\"dense_ms\":22},"
                + "{\"tokens\":128,\"top_k\":8,\"active_experts\":64,\"grouped_ms\":30,\"dense_ms\":35}]";
        String link = ",\"transport\":{\"local\":{\"latency_us\":5,\"bandwidth_gbs\":10},\"grpc\":{\"latency_us\":100,\"bandwidth_gbs\":1},"
                + "\"grpc_workers\":{\"latency_us\":300,\"bandwidth_gbs\":0.8}}";
        long[] sixteen = new long[32], eight = new long[32];
        java.util.Arrays.fill(sixteen, 16);
        java.util.Arrays.fill(eight, 8);
        Calibration plain = calibration(",\"expert_kernels\":{" + sweep + "}" + link);
        double before = new Roofline(HardwareProfiles.localCpu(plain, 2, true), SimDtype.F32).experts(sixteen, 1024, 512);
        assertThat(HardwareProfiles.localCpu(plain, 2, true).hub()).isEqualTo(new Link(300, 0.8)); // the stand-in workers' link
        // one token and two batches on two workers: the busier worker computed 1.2x what the curve gives, and the
        // layer took, beyond that, a message each way per worker at 450 us plus its rows out and back at 0.5 GB/s
        long[] four = new long[32];
        java.util.Arrays.fill(four, 0, 4, 1);
        StringBuilder pts = new StringBuilder();
        for (long[] rows : new long[][]{four, eight, sixteen}) {
            double compute = 1.2 * new Roofline(HardwareProfiles.localCpu(plain, 2, true), SimDtype.F32).experts(rows, 1024, 512) * 1e3;
            long all = 2 * java.util.Arrays.stream(rows).sum();
            double wall = compute + 4 * 0.45 + 2.0 * all * 1024 * 4 / 0.5e9 * 1e3;
            String r = java.util.Arrays.toString(rows).replace(" ", "");
            pts.append(pts.isEmpty() ? "" : ",").append("{\"tokens\":").append(all / 8).append(",\"devices\":2,\"ms\":").append(wall)
                    .append(",\"compute_ms\":[").append(compute).append(",").append(0.9 * compute).append("],\"device_rows\":[").append(r).append(",").append(r).append("]}");
        }
        Calibration probed = calibration(",\"expert_kernels\":{" + sweep + ",\"worker_points\":[" + pts + "]}" + link);
        // a probe that gives the median round's time beyond the compute (beyond_ms) is read by it, not by its median wall
        StringBuilder withBeyond = new StringBuilder();
        for (String q : pts.toString().split("(?<=\\]\\]\\}),")) {
            double ms = Double.parseDouble(q.replaceAll(".*\"ms\":([0-9.E-]+),.*", "$1"));
            double compute = Double.parseDouble(q.replaceAll(".*\"compute_ms\":\\[([0-9.E-]+),.*", "$1"));
            withBeyond.append(withBeyond.isEmpty() ? "" : ",").append(q.replace("\"ms\":" + ms, "\"ms\":" + (ms + 5) + ",\"beyond_ms\":" + (ms - compute)));
        }
        assertThat(HardwareProfiles.localCpu(calibration(",\"expert_kernels\":{" + sweep + ",\"worker_points\":[" + withBeyond + "]}" + link), 2, true).hub())
                .isEqualTo(HardwareProfiles.localCpu(probed, 2, true).hub());
        Hardware workers = HardwareProfiles.localCpu(probed, 2, true);
        assertThat(new Roofline(workers, SimDtype.F32).experts(sixteen, 1024, 512)).isCloseTo(1.2 * before, within(0.01 * before));
        assertThat(workers.hub().latencyUs()).isCloseTo(450.0, within(1e-6));
        assertThat(workers.hub().bandwidthGbs()).isCloseTo(0.5, within(1e-9));
        // decode steps through the workers took 4 x 600 us and the token's 8 rows out and back beyond compute: they,
        // not the one-token point timed back to back, set the latency; the batches still set the bandwidth
        double decodeBeyondMs = 4 * 0.6 + 2.0 * 8 * 1024 * 4 / 0.5e9 * 1e3;
        Calibration withDecode = calibration(",\"expert_kernels\":{" + sweep + ",\"worker_points\":[" + pts + "],\"worker_decode\":{\"tokens\":1,\"devices\":2,\"beyond_ms\":"
                + decodeBeyondMs + ",\"attention_ms\":9}}" + link);
        Link decodeLink = HardwareProfiles.localCpu(withDecode, 2, true).hub();
        // the decode layer's own equation holds exactly; the batches (made at 450 us) pull the two a little apart
        assertThat(2 * decodeLink.seconds(8 * 1024 * 4, 2)).isCloseTo(decodeBeyondMs * 1e-3, within(1e-12));
        assertThat(decodeLink.latencyUs()).isCloseTo(600.0, within(6.0));
        assertThat(decodeLink.bandwidthGbs()).isGreaterThan(0.5).isLessThan(0.55); // more of the batches' time is now latency
        // the batches alone (no point small enough to time the messages alone): the bandwidth at the link probe's
        // latency, fitted through zero (the 4 x 150 us of latency it misses count as the bytes' time)
        String batches = pts.substring(pts.indexOf("},{") + 2);
        Link two = HardwareProfiles.localCpu(calibration(",\"expert_kernels\":{" + sweep + ",\"worker_points\":[" + batches + "]}" + link), 2, true).hub();
        assertThat(two.latencyUs()).isEqualTo(300.0);
        double sbb = 0, sby = 0;
        for (int rowsPerExpert : new int[]{8, 16}) {
            double bytes = 2.0 * (2 * 32 * rowsPerExpert) * 1024 * 4; // every row out and back
            sbb += bytes * bytes;
            sby += bytes * (bytes / 0.5e9 + 4 * (0.45 - 0.3) * 1e-3);
        }
        assertThat(two.bandwidthGbs()).isCloseTo(sbb / sby / 1e9, within(1e-9));
        // the in-process mesh keeps its own figures: the workers' probe is not its devices
        assertThat(new Roofline(HardwareProfiles.localCpu(probed, 2), SimDtype.F32).experts(sixteen, 1024, 512))
                .isEqualTo(new Roofline(HardwareProfiles.localCpu(plain, 2), SimDtype.F32).experts(sixteen, 1024, 512));
    }

    /** A calibration file with the given fields over a base of round figures, read back as {@code jmoe calibrate} writes it. */
    static Calibration calibration(String extra) throws Exception {
        String json = "{\"format\":\"jmoe-calibration/1\",\"threads\":2,\"peak_gflops_f32\":200,\"gemm_gflops_f32\":100,"
                + "\"memory_bandwidth_gbs\":20,\"matvec_gbs\":{\"F32\":20,\"Q8_0\":10,\"Q4_0\":8},"
                + "\"transport\":{\"local\":{\"latency_us\":5,\"bandwidth_gbs\":10},\"grpc\":{\"latency_us\":100,\"bandwidth_gbs\":1}},"
                + "\"eps_chunk_overhead_us\":3000" + extra + "}";
        java.nio.file.Path f = java.nio.file.Files.createTempFile("jmoe-cal", ".json");
        try {
            java.nio.file.Files.writeString(f, json);
            return Calibration.read(f);
        } finally {
            java.nio.file.Files.delete(f);
        }
    }

    @Test
    void localCpuRunsEachWeightFormatAtItsMeasuredRates() throws Exception {
        Calibration c = calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":2},\"gemm_gflops\":{\"F32\":100,\"Q8_0\":70,\"Q4_0\":90},"
                + "\"matvec_call_us\":{\"F32\":10},\"matvec_stream_gbs\":{\"F32\":25,\"Q8_0\":12},"
                + "\"matvec_model\":{\"dtype\":\"F32\",\"ms\":300,\"bytes\":5.4e9,\"products\":3000}");
        Hardware h = HardwareProfiles.localCpu(c, 1);
        assertThat(h.flops(SimDtype.Q8_0)).isCloseTo(70e9, within(1.0)); // prefill decodes to f32 tiles: its own GEMM rate
        assertThat(h.flops(SimDtype.Q4_0)).isCloseTo(90e9, within(1.0));
        assertThat(h.flops(SimDtype.W8A8)).isCloseTo(70e9, within(1.0)); // what the engine runs for int8 weights
        assertThat(h.kernelOverheadUs()).isEqualTo(10.0); // the measured fixed cost of one product
        // the model's own experts: 5.4 GB in 300 ms less 3000 products x 10 us = 270 ms -> 20 GB/s
        assertThat(h.weightBytesPerS(SimDtype.F32)).isCloseTo(20e9, within(1.0));
        // no pass over a Q8_0 model: the anonymous probe net of its fixed cost
        assertThat(h.weightBytesPerS(SimDtype.Q8_0)).isCloseTo(12e9, within(1.0));
        // no net figure for Q4_0: the plain probe
        assertThat(h.weightBytesPerS(SimDtype.Q4_0)).isCloseTo(8e9, within(1.0));
        assertThat(HardwareProfiles.localCpu(c, 2).weightBytesPerS(SimDtype.F32)).isCloseTo(10e9, within(1.0));
        assertThat(h.mmaTileRows()).isEqualTo(3); // the engine's GEMM tiles take tokens three at a time
        // a file from before these probes: F32 rates, int8 at 0.3 of the F32 GEMM, the plain probe, 5 us
        Hardware old = HardwareProfiles.localCpu(Calibration.defaults(), 1);
        assertThat(old.flops(SimDtype.Q8_0)).isCloseTo(0.3 * 55e9, within(1.0));
        assertThat(old.weightBytesPerS(SimDtype.Q8_0)).isCloseTo(8e9, within(1.0));
        assertThat(old.kernelOverheadUs()).isEqualTo(5.0);
    }

    @Test
    void theCalibratedCrossoverAppliesOnlyToTheFormatItWasMeasuredOn() throws Exception {
        // the engine (ExpertKernels.crossoverFor): the calibrated crossover for experts of the sweep's format, the
        // default 2.0 per thread for every other format; one thread per device never groups
        Calibration c = calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":13,\"dtype\":\"F32\"}");
        Hardware h = HardwareProfiles.localCpu(c, 1);
        assertThat(h.groupedFromActive(SimDtype.F32)).isEqualTo(26.0);
        assertThat(h.groupedFromActive(SimDtype.Q4_0)).isEqualTo(org.jmoe.model.ExpertKernels.DEFAULT_CROSSOVER * 2);
        assertThat(h.groupedFromActive(SimDtype.Q8_0)).isEqualTo(org.jmoe.model.ExpertKernels.DEFAULT_CROSSOVER * 2);
        assertThat(HardwareProfiles.localCpu(c, 2).groupedFromActive(SimDtype.Q4_0)).isInfinite();
        // and the cost follows it: 8 active experts of one row run grouped in Q4_0 (8 >= 4), dense in F32 (8 < 26)
        long[] rows = {1, 1, 1, 1, 1, 1, 1, 1};
        Hardware denseOnly = new Hardware(h.name(), "", h.peakTflops(), h.memoryBandwidthGbs(), h.memoryGb(), 1, 1, 1, h.links(), 1, 1,
                h.weightStreamGbs(), h.kernelOverheadUs(), h.epsChunkOverheadUs(), 3, 0.9, h.rowEfficiency(), Double.POSITIVE_INFINITY);
        Hardware groupedAlways = new Hardware(h.name(), "", h.peakTflops(), h.memoryBandwidthGbs(), h.memoryGb(), 1, 1, 1, h.links(), 1, 1,
                h.weightStreamGbs(), h.kernelOverheadUs(), h.epsChunkOverheadUs(), 3, 0.9, h.rowEfficiency(), 1e-9);
        assertThat(new Roofline(h, SimDtype.F32).experts(rows, 1024, 512)).isEqualTo(new Roofline(denseOnly, SimDtype.F32).experts(rows, 1024, 512));
        assertThat(new Roofline(h, SimDtype.Q4_0).experts(rows, 1024, 512)).isEqualTo(new Roofline(groupedAlways, SimDtype.Q4_0).experts(rows, 1024, 512));
        assertThat(new Roofline(groupedAlways, SimDtype.Q4_0).experts(rows, 1024, 512)).isNotEqualTo(new Roofline(denseOnly, SimDtype.Q4_0).experts(rows, 1024, 512));
        // a file that does not name the sweep's format: the crossover for every format, as in the engine
        Hardware any = HardwareProfiles.localCpu(calibration(",\"expert_kernels\":{\"grouped_min_active_per_thread\":13}"), 1);
        assertThat(any.groupedFromActive(SimDtype.Q4_0)).isEqualTo(26.0);
    }

    @Test
    void workerJvmsExchangeEveryRowThroughTheCoordinatorAtTheProbedFigures() throws Exception {
        // the probe's pooled figures 600 us and 0.5 GB/s
        Calibration c;
        String t = "\"transport\":{\"local\":{\"latency_us\":5,\"bandwidth_gbs\":10},\"grpc\":{\"latency_us\":100,\"bandwidth_gbs\":1},"
                + "\"grpc_workers\":{\"latency_us\":600,\"bandwidth_gbs\":0.5,\"points\":[{\"busy_ms\":10,\"latency_us\":600,\"bandwidth_gbs\":0.5},"
                + "{\"busy_ms\":0,\"latency_us\":200,\"bandwidth_gbs\":1}]}}";
        String json = "{\"format\":\"jmoe-calibration/1\",\"threads\":2,\"peak_gflops_f32\":200,\"gemm_gflops_f32\":100,"
                + "\"memory_bandwidth_gbs\":20,\"matvec_gbs\":{\"F32\":20},\"expert_kernels\":{\"grouped_min_active_per_thread\":2}," + t
                + ",\"eps_chunk_overhead_us\":3000}";
        java.nio.file.Path f = java.nio.file.Files.createTempFile("jmoe-cal", ".json");
        java.nio.file.Files.writeString(f, json);
        try {
            c = Calibration.read(f);
        } finally {
            java.nio.file.Files.delete(f);
        }
        Link hub = HardwareProfiles.localCpu(c, 2, true).hub();
        assertThat(hub.latencyUs()).isEqualTo(600.0); // the probe's figures (its points are what they were pooled from)
        assertThat(hub.bandwidthGbs()).isEqualTo(0.5);
        // every row crosses, both workers' messages one after the other: a layer of 16 tokens x top-8 rows of 1024
        // floats is 512 KiB out: 2 x 600 us + 524,288 B / 0.5 GB/s
        assertThat(hub.seconds(524_288, 2)).isCloseTo(1200e-6 + 524_288 / 0.5e9, within(1e-12));
        assertThat(HardwareProfiles.localCpu(c, 2, false).hub()).isNull();
    }

    @Test
    void epsChunkOverheadIsWhatTheProbeMeasuredBeyondTheModelledReReads() throws Exception {
        // a layer of 4 experts (1024 x 512, F32), every token routed to all 4: 16 tokens at once read each expert
        // once, as 4 chunks of 4 tokens four times. Weights stream at 6.291456 GB/s: one expert (3·512·1024·4 B =
        // 6.291456 MB) takes exactly 1 ms; compute and activations cost nothing at the rates below, no fixed costs.
        // The cost model charges the chunks 4·4 − 4 = 12 ms more than the batch.
        String base = ",\"gemm_gflops\":{\"F32\":1e9},\"matvec_call_us\":{\"F32\":0},\"matvec_stream_gbs\":{\"F32\":6.291456},"
                + "\"expert_kernels\":{\"grouped_min_active_per_thread\":2,\"dtype\":\"F32\",\"experts\":4,\"top_k\":4,\"hidden\":1024,\"ffn\":512,\"points\":[]}";
        // measured: 4 ms at once, 19 ms as 4 chunks -> (15 − 12) / 3 = 1 ms per added chunk, plus the 5 us hand-off
        Calibration c = calibration(base + ",\"eps_chunk_probe\":{\"tokens\":16,\"chunks\":4,\"one_ms\":4,\"chunked_ms\":19}");
        assertThat(HardwareProfiles.localCpu(withMemory(c), 1).epsChunkOverheadUs()).isCloseTo(1005, within(0.5));
        // a probe the model over-explains: just the hand-off
        Calibration d = withMemory(calibration(base + ",\"eps_chunk_probe\":{\"tokens\":16,\"chunks\":4,\"one_ms\":4,\"chunked_ms\":14}"));
        assertThat(HardwareProfiles.localCpu(d, 1).epsChunkOverheadUs()).isCloseTo(5, within(0.5));
        // no probe timings (older files): the calibrated k as it stands
        assertThat(HardwareProfiles.localCpu(withMemory(calibration(base)), 1).epsChunkOverheadUs()).isEqualTo(3000.0);
    }

    /** The same calibration with memory so fast that activation traffic costs nothing. */
    private static Calibration withMemory(Calibration c) throws Exception {
        com.fasterxml.jackson.databind.node.ObjectNode n = c.raw().deepCopy();
        n.put("memory_bandwidth_gbs", 1e12);
        n.put("gemm_gflops_f32", 1e9);
        java.nio.file.Path f = java.nio.file.Files.createTempFile("jmoe-cal", ".json");
        try {
            java.nio.file.Files.writeString(f, n.toString());
            return Calibration.read(f);
        } finally {
            java.nio.file.Files.delete(f);
        }
    }

    @Test
    void tokensSpreadOverTheExpectedNumberOfDistinctExperts() {
        // 32 tokens choosing 8 of 64: 64·(1 − (56/64)^32) = 63.1 experts hit, 256 rows -> 4 each and 4 experts with 5
        long[] r = HardwareProfiles.spread(32, 8, 64);
        assertThat(r).hasSize(63);
        assertThat(java.util.Arrays.stream(r).sum()).isEqualTo(256);
        assertThat(java.util.Arrays.stream(r).filter(x -> x == 5).count()).isEqualTo(4);
        assertThat(HardwareProfiles.spread(16, 4, 4)).containsExactly(16, 16, 16, 16);
        assertThat(HardwareProfiles.spread(1, 8, 64)).hasSize(8);
    }

    @Test
    void blockFormatsWeighTheirScales() {
        assertThat(SimDtype.parse("q8_0", "--dtype").bytes()).isEqualTo(34.0 / 32);
        assertThat(SimDtype.parse("Q4_0", "--dtype").bytes()).isEqualTo(18.0 / 32);
        assertThat(SimDtype.Q8_0.dispatchBytes()).isEqualTo(4.0); // the engine exchanges f32 rows
        assertThat(SimDtype.Q8_0.floatActivations()).isTrue();
        assertThat(SimDtype.W8A8.floatActivations()).isFalse();
        // a q8_0 GEMM on an accelerator profile has no unit to run at
        assertThatThrownBy(() -> HardwareProfiles.load("h100").flops(SimDtype.Q8_0)).isInstanceOf(JmoeException.class).hasMessageContaining("no q8_0");
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
