package org.jmoe.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;
import org.jmoe.calibrate.Calibration;
import org.jmoe.calibrate.MachineProbe;
import org.jmoe.cluster.LoopbackProbe;
import org.jmoe.model.LayerWeights;
import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.model.ModelLoader;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Parallel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * {@code jmoe calibrate}: measures this machine into the calibration file (docs/CALIBRATION.md) that the expert
 * kernel choice, the EPS chunk planner and the simulator's {@code local-cpu} profile read.
 */
@Command(name = "calibrate", mixinStandardHelpOptions = true,
        description = {"Measure this machine (FMA peak, GEMM, memory and matrix-vector bandwidth, expert kernel crossover, "
                + "transports, EPS chunk overhead) into the calibration file the scheduler and simulator read.",
                "Default file: $JMOE_CALIBRATION, else ~/.cache/jmoe/calibration.json."})
final class CalibrateCommand implements Runnable {
    @Option(names = "--out", paramLabel = "FILE", description = "Where to write (default: $JMOE_CALIBRATION, else ~/.cache/jmoe/calibration.json).")
    Path out;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: all cores).")
    Integer threads;

    @Option(names = {"-m", "--model"}, paramLabel = "PATH", description = "Sweep the expert kernels on this model's first MoE layer (default: a synthetic layer of 64 experts, 1024 x 512, top-8).")
    Path model;

    @Option(names = "--dtype", paramLabel = "TYPE", defaultValue = "Q8_0", description = "Dtype of the synthetic expert layer (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--quick", description = "Smaller sizes and fewer repetitions (seconds; rougher figures).")
    boolean quick;

    @Option(names = "--json", description = "Print the file's JSON instead of a table.")
    boolean json;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    /** Weight formats whose GEMM (and fixed cost per matrix-vector product) is timed: the local-cpu profile's formats. */
    private static final String[] GEMM_TYPES = {"F32", "F16", "BF16", "Q8_0", "Q4_0"};
    private static final String[] MATVEC_TYPES = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"};

    @Override
    public void run() {
        if (threads != null) {
            if (threads < 1 || threads > 1024) throw new JmoeException("--threads", "must be between 1 and 1024, got " + threads);
            Parallel.setGlobalThreads(threads);
        }
        DType synthType = DType.parse(dtype);
        Path file = out != null ? out : Calibration.defaultPath();
        if (Files.isDirectory(file)) throw new JmoeException(file.toString(), "is a directory; --out takes a file name");
        Parallel pool = Parallel.global();
        ObjectMapper om = new ObjectMapper();
        ObjectNode o = om.createObjectNode();
        o.put("format", Calibration.FORMAT);
        o.put("created", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        ObjectNode machine = o.putObject("machine");
        machine.put("cpu", cpuName());
        machine.put("cores", Runtime.getRuntime().availableProcessors());
        machine.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        machine.put("java", System.getProperty("java.version"));
        o.put("threads", pool.threads());
        o.put("quick", quick);
        MachineProbe probe = new MachineProbe(pool, quick);
        Model m = null;
        try {
            step("FMA peak");
            o.put("peak_gflops_f32", round(probe.peakGflopsF32()));
            step("transports");
            double handOff = probe.handOffLatencyUs();
            ObjectNode tr = o.putObject("transport");
            ObjectNode local = tr.putObject("local");
            local.put("latency_us", round(handOff));
            local.put("bandwidth_gbs", round(probe.copyGbs()));
            LoopbackProbe.Result g = LoopbackProbe.measure(quick);
            ObjectNode grpc = tr.putObject("grpc");
            grpc.put("latency_us", round(g.latencyUs()));
            grpc.put("bandwidth_gbs", round(g.bandwidthGbs()));
            grpc.put("note", "loopback: an upper bound for workers on other hosts");
            int cores = Runtime.getRuntime().availableProcessors();
            if (cores >= 2) {
                // the expert stage as --local-workers runs it: worker JVMs on this machine's cores, fed by this process
                int workers = Math.min(cores, 2);
                int rowFloats = model != null ? ModelLoader.config(model).hidden : 1024;
                org.jmoe.cluster.WorkerLinkProbe.Result lw = org.jmoe.cluster.WorkerLinkProbe.measure(workers, rowFloats, quick);
                ObjectNode gw = tr.putObject("grpc_workers");
                gw.put("latency_us", round(lw.latencyUs()));
                gw.put("bandwidth_gbs", round(lw.bandwidthGbs()));
                gw.put("workers", lw.workers());
                gw.put("hidden", lw.hidden());
                gw.put("rows", lw.rows());
                ArrayNode pts = gw.putArray("points");
                for (org.jmoe.cluster.WorkerLinkProbe.Point pt : lw.points()) {
                    ObjectNode po = pts.addObject();
                    po.put("busy_ms", round(pt.busyMs()));
                    po.put("small_ms", round(pt.smallMs()));
                    po.put("large_ms", round(pt.largeMs()));
                    po.put("latency_us", round(pt.latencyUs()));
                    po.put("bandwidth_gbs", round(pt.bandwidthGbs()));
                }
                gw.put("note", "worker JVMs on this machine fed by one coordinator, as --local-workers: per worker and message, and the coordinator's side");
            }

            // The expert layer's probes first: the JIT then compiles the kernels for that layer's shapes and format,
            // as in a process serving the model; the generic probes of other shapes and formats come after (run
            // before, they leave the kernels compiled for what they ran and the layer's figures tens of percent off).
            LayerWeights w;
            int hidden, ffn, experts, k;
            ObjectNode ek = o.putObject("expert_kernels");
            if (model != null) {
                m = ModelLoader.load(model);
                ModelConfig c = m.config();
                if (c.experts == 0) throw new JmoeException(model.toString(), "the model has no experts to calibrate on");
                int layer = 0;
                while (!c.isMoeLayer(layer)) layer++;
                w = m.layer(layer);
                hidden = c.hidden;
                ffn = c.expertFfn;
                experts = c.experts;
                k = c.expertsUsed;
                ek.put("source", model.toString() + " layer " + layer);
                ek.put("dtype", w.expGate[0].type().name());
                step("matrix-vector over the model's experts");
                java.util.List<LayerWeights> moe = new java.util.ArrayList<>();
                for (int l = 0; l < c.layers; l++) if (c.isMoeLayer(l)) moe.add(m.layer(l));
                ObjectNode mm = o.putObject("matvec_model");
                mm.put("source", model.toString());
                mm.put("dtype", w.expGate[0].type().name());
                MachineProbe.ModelMatvec mmv = probe.modelMatvec(moe);
                mm.put("gbs", round(mmv.gbs()));
                mm.put("ms", round(mmv.ms()));
                mm.put("bytes", mmv.bytes());
                mm.put("products", mmv.products());
                step("one-token experts over the model's layers");
                MachineProbe.DecodeModel dm = probe.decodeModel(moe, c.hidden, c.expertFfn, c.expertsUsed);
                ObjectNode dmo = o.putObject("decode_model");
                dmo.put("source", model.toString());
                dmo.put("dtype", w.expGate[0].type().name());
                dmo.put("layers", dm.layers());
                dmo.put("top_k", dm.topK());
                dmo.put("hidden", c.hidden);
                dmo.put("ffn", c.expertFfn);
                dmo.put("passes", dm.passes());
                dmo.put("ms_per_layer", Math.round(dm.msPerLayer() * 1e6) / 1e6); // microsecond layers of small models need the digits
                dmo.put("bytes_per_layer", dm.bytesPerLayer());
                dmo.put("gbs", round(dm.gbs()));
                step("attention blocks of a prefill");
                attentionProbe(m, o.putObject("attention_probe"), null);
                // decode steps after the prefill, not before: the JIT compiles the attention core for the loops it
                // sees first, and in one calibration that ran the decode steps first, the prefill's core then ran 7x
                // slower than usual (3 GFLOP/s against 22)
                step("decode steps");
                MachineProbe.OneTokenLayers alone = probe.decodeLayers(m, null);
                ObjectNode da = o.putObject("decode_attention");
                da.put("steps", alone.steps());
                da.put("attention_ms", round(alone.attentionMs()));
            } else {
                hidden = quick ? 512 : 1024;
                ffn = quick ? 256 : 512;
                experts = 64;
                k = 8;
                w = probe.syntheticExperts(synthType, experts, hidden, ffn);
                ek.put("source", "synthetic");
                ek.put("dtype", synthType.name());
            }
            String layerType = w.expGate[0].type().name();
            step("expert kernels");
            ek.put("experts", experts);
            ek.put("top_k", k);
            ek.put("hidden", hidden);
            ek.put("ffn", ffn);
            ek.put("threads", pool.threads());
            MachineProbe.KernelSweep sweep = probe.expertKernels(w, hidden, ffn, experts, k);
            ArrayNode pts = ek.putArray("points");
            for (MachineProbe.KernelPoint p : sweep.points()) {
                ObjectNode q = pts.addObject();
                q.put("tokens", p.tokens());
                q.put("top_k", p.topK());
                q.put("active_experts", p.activeExperts());
                q.put("active_per_thread", round(p.activePerThread()));
                q.put("grouped_ms", round(p.groupedMs()));
                q.put("dense_ms", round(p.denseMs()));
            }
            ek.put("grouped_min_active_per_thread", round(sweep.groupedMinActivePerThread()));
            step("expert layer on one-thread devices");
            ArrayNode mps = ek.putArray("mesh_points");
            for (MachineProbe.MeshPoint p : probe.meshDevices(w, hidden, ffn, experts, k, quick ? new int[]{64} : new int[]{32, 128, 256})) {
                ObjectNode q = mps.addObject();
                q.put("tokens", p.tokens());
                q.put("devices", p.devices());
                q.put("ms", round(p.ms()));
                ArrayNode dr = q.putArray("device_rows");
                for (int[] d : p.deviceRows()) {
                    ArrayNode a = dr.addArray();
                    for (int v : d) a.add(v);
                }
            }
            if (model != null && cores >= 2 && experts % 2 == 0) {
                // a prefill's attention blocks with the experts on two one-thread devices of this process, as bench-ep
                // --devices 2 runs them: what runs beside the blocks slows them, for the simulator's local-cpu:mesh=2
                step("attention beside one-thread devices");
                try (org.jmoe.parallel.Mesh mesh = new org.jmoe.parallel.Mesh(org.jmoe.moe.Placement.contiguous(experts, 2, 1), pool.threads());
                     org.jmoe.parallel.MeshExperts me = new org.jmoe.parallel.MeshExperts(m.config(), mesh, org.jmoe.parallel.MeshExperts.Schedule.SERIAL, 1)) {
                    attentionProbe(m, ek.putObject("mesh_attention"), me);
                    // and decode steps through them: what a one-token layer takes beyond the devices' compute
                    step("decode steps on one-thread devices");
                    decodeSteps(probe.decodeLayers(m, me), ek.putObject("mesh_decode"));
                }
                // the same layer on worker JVMs (--local-workers 2): the workers' compute beside the transfers and what
                // the layer takes beyond it, for the simulator's local-cpu:workers=2
                step("expert layer on worker JVMs");
                ModelConfig mc = m.config();
                int layer = 0;
                while (!mc.isMoeLayer(layer)) layer++;
                ArrayNode wps = ek.putArray("worker_points");
                // and, the workers still up, a prefill's attention blocks and decode steps beside them
                Model model0 = m;
                for (org.jmoe.cluster.WorkerLayerProbe.Point p : org.jmoe.cluster.WorkerLayerProbe.measure(model, mc, layer, w, 2,
                        quick ? new int[]{1, 64} : new int[]{1, 32, 128, 256}, quick, re -> {
                            attentionProbe(model0, ek.putObject("worker_attention"), re);
                            decodeSteps(probe.decodeLayers(model0, re), ek.putObject("worker_decode"));
                        })) {
                    ObjectNode q = wps.addObject();
                    q.put("tokens", p.tokens());
                    q.put("devices", p.workers());
                    q.put("ms", round(p.wallMs()));
                    ArrayNode cm = q.putArray("compute_ms");
                    for (double v : p.computeMs()) cm.add(round(v));
                    q.put("beyond_ms", round(p.beyondMs()));
                    ArrayNode dr = q.putArray("device_rows");
                    for (int[] d : p.workerRows()) {
                        ArrayNode a = dr.addArray();
                        for (int v : d) a.add(v);
                    }
                }
            }
            step("EPS chunk overhead");
            MachineProbe.EpsProbe eps = probe.epsChunks(w, hidden, ffn, experts, k, handOff);
            o.put("eps_chunk_overhead_us", round(eps.overheadUs()));
            ObjectNode ep = o.putObject("eps_chunk_probe");
            ep.put("tokens", eps.tokens());
            ep.put("chunks", eps.chunks());
            ep.put("one_ms", round(eps.oneMs()));
            ep.put("chunked_ms", round(eps.manyMs()));

            // the layer's format first among the generic probes, for the same reason
            java.util.List<String> gemmTypes = firstOf(layerType, GEMM_TYPES), matvecTypes = firstOf(layerType, MATVEC_TYPES);
            ObjectNode gm = o.putObject("gemm_gflops");
            for (String t : gemmTypes) {
                step(t + " GEMM");
                gm.put(t, round(probe.gemmGflops(DType.parse(t))));
            }
            o.put("gemm_gflops_f32", gm.path("F32").asDouble());
            step("memory bandwidth");
            o.put("memory_bandwidth_gbs", round(probe.memoryBandwidthGbs()));
            ObjectNode mv = o.putObject("matvec_gbs"), call = o.putObject("matvec_call_us"), stream = o.putObject("matvec_stream_gbs");
            for (String t : matvecTypes) {
                step("matrix-vector " + t);
                if (gemmTypes.contains(t)) {
                    MachineProbe.MatvecCost mc = probe.matvecCost(DType.parse(t));
                    mv.put(t, round(mc.gbs()));
                    call.put(t, round(mc.callUs()));
                    stream.put(t, round(mc.streamGbs()));
                } else {
                    mv.put(t, round(probe.matvecGbs(DType.parse(t))));
                }
            }
        } finally {
            if (m != null) m.close();
            probe.close();
        }
        Calibration.write(file, o);
        if (json) {
            System.out.println(Json.write(o));
            return;
        }
        print(o, file);
    }

    /** A decode-steps probe's figures (one-token layers through the devices, attention per step) into {@code q}. */
    private static void decodeSteps(MachineProbe.OneTokenLayers one, ObjectNode q) {
        q.put("tokens", 1);
        q.put("devices", one.computeMs().length);
        q.put("layers", one.layers());
        q.put("ms", round(one.wallMs()));
        ArrayNode cm = q.putArray("compute_ms");
        for (double v : one.computeMs()) cm.add(round(v));
        q.put("beyond_ms", round(one.beyondMs()));
        q.put("steps", one.steps());
        q.put("attention_ms", round(one.attentionMs()));
    }

    /** Tokens of the attention probe's prefill (the benchmarks' pp128). */
    static final int ATTENTION_PROBE_TOKENS = 128;

    /**
     * Times the model's attention blocks inside a real prefill of {@link #ATTENTION_PROBE_TOKENS} random tokens (fewer
     * where the model's context is shorter) from an empty cache, with the forward pass's own stage clocks: the block
     * (norm, Q/K/V and output projections, q/k norm, RoPE, residual) and the core (scores, softmax, weighted values),
     * as rates of their FLOPs, which the simulator's local profile uses for attention in prefill. Two warm-ups, then
     * the mean of three prefills (the simulator predicts throughput, a sum of prefills). {@code experts}: where the
     * routed experts run (null: this process's pool, as one device); the attention blocks always run here, and what
     * runs beside them (device threads, worker JVMs) slows them (measured here up to 9% beside two one-thread devices, 11–29% beside two worker JVMs).
     */
    static void attentionProbe(Model m, ObjectNode out, org.jmoe.model.ExpertBackend experts) {
        ModelConfig c = m.config();
        int T = Math.min(ATTENTION_PROBE_TOKENS, Math.max(2, c.contextLength - 1));
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(4321);
        int[] tokens = new int[T];
        for (int i = 0; i < T; i++) tokens[i] = rnd.nextInt(c.vocab);
        org.jmoe.model.Forward f = new org.jmoe.model.Forward(m, T + 1);
        if (experts != null) f.setExpertBackend(experts);
        float[] logits = new float[c.vocab];
        int warm = 2, measured = 3;
        double sumBlock = 0, sumCore = 0;
        for (int rep = 0; rep < warm + measured; rep++) {
            f.reset();
            f.resetStageTimes();
            f.eval(tokens, logits, false);
            org.jmoe.model.Forward.StageTimes st = f.stageTimes();
            if (rep >= warm) {
                sumBlock += st.attentionNanos() / 1e6;
                sumCore += st.attentionCoreNanos() / 1e6;
            }
        }
        double block = sumBlock / measured, core = sumCore / measured;
        int layers = c.layers;
        double projFlops = layers * (2.0 * T * c.hidden * (c.qDim() + 2.0 * c.kvDim()) + 2.0 * T * c.qDim() * c.hidden);
        double coreFlops = layers * 4.0 * c.heads * c.headDim * (T * (T + 1) / 2.0);
        out.put("source", "a prefill of " + T + " tokens");
        out.put("tokens", T);
        out.put("layers", layers);
        out.put("block_ms", round(block));
        out.put("core_ms", round(core));
        out.put("prefills", measured);
        out.put("projection_gflops", round(projFlops / Math.max(1e-9, (block - core) * 1e-3) / 1e9));
        out.put("core_gflops", round(coreFlops / Math.max(1e-9, core * 1e-3) / 1e9));
    }

    /** {@code types} with {@code first} moved to the front (when it is one of them). */
    static java.util.List<String> firstOf(String first, String[] types) {
        java.util.List<String> l = new java.util.ArrayList<>(java.util.List.of(types));
        if (l.remove(first)) l.addFirst(first);
        return l;
    }

    private void step(String what) {
        if (!json) System.err.println("jmoe: calibrate: " + what);
    }

    private static void print(ObjectNode o, Path file) {
        System.out.printf("%s, %d threads, Java %s%n", o.path("machine").path("cpu").asText(), o.path("threads").asInt(), o.path("machine").path("java").asText());
        System.out.printf("| measure | value |%n|---|---|%n");
        System.out.printf("| FMA peak | %.1f GFLOP/s |%n", o.path("peak_gflops_f32").asDouble());
        System.out.printf("| F32 GEMM | %.1f GFLOP/s (%.0f%% of peak) |%n", o.path("gemm_gflops_f32").asDouble(), 100 * o.path("gemm_gflops_f32").asDouble() / o.path("peak_gflops_f32").asDouble());
        o.path("gemm_gflops").fields().forEachRemaining(e -> { if (!e.getKey().equals("F32")) System.out.printf("| %s GEMM | %.1f GFLOP/s |%n", e.getKey(), e.getValue().asDouble()); });
        System.out.printf("| memory read | %.1f GB/s |%n", o.path("memory_bandwidth_gbs").asDouble());
        o.path("matvec_gbs").fields().forEachRemaining(e -> System.out.printf("| matvec %s | %.1f GB/s |%n", e.getKey(), e.getValue().asDouble()));
        if (o.has("matvec_model")) System.out.printf("| matvec over the model's experts (%s) | %.1f GB/s |%n", o.path("matvec_model").path("dtype").asText(), o.path("matvec_model").path("gbs").asDouble());
        if (o.has("decode_model")) System.out.printf("| one-token experts, layers in turn (%s, top-%d) | %.3f ms per layer, %.1f GB/s |%n", o.path("decode_model").path("dtype").asText(),
                o.path("decode_model").path("top_k").asInt(), o.path("decode_model").path("ms_per_layer").asDouble(), o.path("decode_model").path("gbs").asDouble());
        if (o.has("attention_probe")) {
            var ekp = o.path("expert_kernels");
            System.out.printf("| attention blocks of a %d-token prefill | %.1f ms%s%s |%n", o.path("attention_probe").path("tokens").asInt(), o.path("attention_probe").path("block_ms").asDouble(),
                    ekp.has("mesh_attention") ? String.format(", %.1f beside two one-thread devices", ekp.path("mesh_attention").path("block_ms").asDouble()) : "",
                    ekp.has("worker_attention") ? String.format(", %.1f beside two worker JVMs", ekp.path("worker_attention").path("block_ms").asDouble()) : "");
        }
        o.path("transport").fields().forEachRemaining(e -> System.out.printf("| transport %s | %.1f us, %.2f GB/s |%n", e.getKey(),
                e.getValue().path("latency_us").asDouble(), e.getValue().path("bandwidth_gbs").asDouble()));
        var ek = o.path("expert_kernels");
        System.out.printf("| expert kernels (%s %s, %d experts %dx%d, top-%d) | grouped from %.2f active experts per thread |%n", ek.path("source").asText(),
                ek.path("dtype").asText(), ek.path("experts").asInt(), ek.path("hidden").asInt(), ek.path("ffn").asInt(), ek.path("top_k").asInt(),
                ek.path("grouped_min_active_per_thread").asDouble());
        System.out.printf("| EPS chunk overhead k | %.0f us |%n", o.path("eps_chunk_overhead_us").asDouble());
        System.out.println();
        System.out.println("| tokens | top-k | active experts | per thread | grouped ms | dense ms |");
        System.out.println("|---|---|---|---|---|---|");
        for (var p : ek.path("points")) {
            System.out.printf("| %d | %d | %d | %.2f | %.3f | %.3f |%n", p.path("tokens").asInt(), p.path("top_k").asInt(), p.path("active_experts").asInt(), p.path("active_per_thread").asDouble(),
                    p.path("grouped_ms").asDouble(), p.path("dense_ms").asDouble());
        }
        if (!ek.path("mesh_points").isEmpty()) {
            System.out.println();
            System.out.println("| tokens | one-thread devices | rows per device | slowest device ms |");
            System.out.println("|---|---|---|---|");
            for (var p : ek.path("mesh_points")) {
                StringBuilder rows = new StringBuilder();
                for (var d : p.path("device_rows")) {
                    int sum = 0;
                    for (var v : d) sum += v.asInt();
                    rows.append(rows.isEmpty() ? "" : " / ").append(sum);
                }
                System.out.printf("| %d | %d | %s | %.3f |%n", p.path("tokens").asInt(), p.path("devices").asInt(), rows, p.path("ms").asDouble());
            }
        }
        if (!ek.path("worker_points").isEmpty()) {
            System.out.println();
            System.out.println("| tokens | worker JVMs | rows per worker | compute ms per worker | layer ms |");
            System.out.println("|---|---|---|---|---|");
            for (var p : ek.path("worker_points")) {
                StringBuilder rows = new StringBuilder(), comp = new StringBuilder();
                for (var d : p.path("device_rows")) {
                    int sum = 0;
                    for (var v : d) sum += v.asInt();
                    rows.append(rows.isEmpty() ? "" : " / ").append(sum);
                }
                for (var v : p.path("compute_ms")) comp.append(comp.isEmpty() ? "" : " / ").append(String.format("%.3f", v.asDouble()));
                System.out.printf("| %d | %d | %s | %s | %.3f |%n", p.path("tokens").asInt(), p.path("devices").asInt(), rows, comp, p.path("ms").asDouble());
            }
        }
        System.err.println("jmoe: wrote " + file);
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static String cpuName() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (l.startsWith("model name")) return l.substring(l.indexOf(':') + 1).strip();
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux: fall through
        }
        return System.getProperty("os.arch");
    }
}
