package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.moe.RouterSpec;
import org.jmoe.sim.Hardware;
import org.jmoe.sim.HardwareProfiles;
import org.jmoe.sim.ModelProfile;
import org.jmoe.sim.ModelProfiles;
import org.jmoe.sim.SimDtype;
import picocli.CommandLine.Option;

/** Options {@code sim} and {@code plan} share: model, hardware, card count, dtypes and router. */
final class SimOptions {
    @Option(names = "--model", required = true, paramLabel = "M",
            description = "Built-in model (pangu-pro-moe, deepseek-v2, mixtral-8x7b, mixtral-8x22b, dbrx, qwen3-30b-a3b, olmoe) or a GGUF file, checkpoint directory or config.json.")
    String model;

    @Option(names = "--hardware", required = true, paramLabel = "H",
            description = "ascend-910a, ascend-800i-a2, ascend-300i-duo, a100, h800, h100, h200, local-cpu (this machine, from 'jmoe calibrate'), local-cpu:mesh=D (cut into D thread-group devices), local-cpu:workers=D (D worker JVMs over gRPC), or a jmoe-hardware/1 file.")
    String hardware;

    @Option(names = "--cards", required = true, paramLabel = "C", description = "Cards (devices = cards x dies per card).")
    int cards;

    @Option(names = "--dtype", paramLabel = "D", description = "Weights: bf16, fp16, w8a8, fp8, f32, or q8_0/q4_0 (llama.cpp blocks, local-cpu) (default: the model's published deployment on that hardware, else bf16; f32 on local-cpu).")
    String dtype;

    @Option(names = "--kv-dtype", paramLabel = "D", description = "KV cache: bf16, fp16, w8a8 (int8), fp8 or f32 (default: bf16; f32 with f32, q8_0 or q4_0 weights).")
    String kvDtype;

    @Option(names = "--router", paramLabel = "SPEC", defaultValue = "native", description = "Router spec (default: ${DEFAULT-VALUE}).")
    String router;

    @Option(names = "--popularity", paramLabel = "P", defaultValue = "uniform", description = "Expert popularity the loads are sampled from: uniform or zipf:S (default: ${DEFAULT-VALUE}).")
    String popularity;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1", description = "Seed of the load sampling (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    ModelProfile modelProfile() { return ModelProfiles.load(model); }

    Hardware hardwareProfile() {
        Hardware h = HardwareProfiles.load(hardware);
        if (cards < 1 || cards > 65536) throw new JmoeException("--cards", "must be between 1 and 65536, got " + cards);
        return h;
    }

    SimDtype weights(ModelProfile m, Hardware h) {
        if (dtype != null) return SimDtype.parse(dtype, "--dtype");
        String d = m.deploymentDtype().get(h.name());
        if (d != null) return SimDtype.parse(d, "model " + m.name());
        return h.name().startsWith("local-cpu") ? SimDtype.F32 : SimDtype.BF16;
    }

    SimDtype kv(SimDtype weights) {
        if (kvDtype != null) return SimDtype.parse(kvDtype, "--kv-dtype");
        return weights.floatActivations() ? SimDtype.F32 : SimDtype.BF16;
    }

    RouterSpec routerSpec() { return RouterSpec.parse(router, "--router"); }

    String deviceWords(Hardware h) {
        return cards + " card" + (cards == 1 ? "" : "s") + " x " + h.diesPerCard() + " die" + (h.diesPerCard() == 1 ? "" : "s");
    }
}
