package org.jmoe.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.JmoeException;
import org.jmoe.calibrate.Calibration;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The hardware profiles: JSON files ({@value #FORMAT}) shipped under {@code org/jmoe/sim/hardware/} (figures and
 * their sources in docs/SIMULATION.md), any such file by path, and {@code local-cpu}, built from this machine's
 * calibration ({@link Calibration#loadOrDefaults()}).
 */
public final class HardwareProfiles {
    public static final String FORMAT = "jmoe-hardware/1";
    /** Built-in profile names, in the order {@code --help} lists them. */
    public static final List<String> NAMES = List.of("ascend-910a", "ascend-800i-a2", "ascend-300i-duo", "a100", "h800", "h100", "h200", "local-cpu");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private HardwareProfiles() {}

    /** A built-in profile by name, or a profile file by path. */
    public static Hardware load(String nameOrPath) {
        if (nameOrPath == null || nameOrPath.isBlank()) throw new JmoeException("--hardware", "missing hardware profile (" + String.join(", ", NAMES) + ")");
        String n = nameOrPath.strip();
        if (n.equals("local-cpu")) return localCpu(Calibration.loadOrDefaults(), 1);
        if (n.startsWith("local-cpu:mesh=") || n.startsWith("local-cpu:workers=")) {
            boolean workers = n.startsWith("local-cpu:workers=");
            int d;
            try {
                d = Integer.parseInt(n.substring(n.indexOf('=') + 1));
            } catch (NumberFormatException e) {
                d = 0;
            }
            if (d < 1 || d > 1024) throw new JmoeException("--hardware", "'" + n + "': " + (workers ? "workers" : "mesh") + " must be a device count between 1 and 1024");
            return localCpu(Calibration.loadOrDefaults(), d, workers);
        }
        if (NAMES.contains(n)) {
            try (InputStream in = HardwareProfiles.class.getResourceAsStream("hardware/" + n + ".json")) {
                if (in == null) throw new IllegalStateException("built-in hardware profile " + n + " is missing from the build");
                return parse(MAPPER.readTree(in), n);
            } catch (IOException e) {
                throw new IllegalStateException("built-in hardware profile " + n + " unreadable", e);
            }
        }
        Path p = Path.of(n);
        if (!Files.isRegularFile(p)) {
            throw new JmoeException("--hardware", "unknown hardware '" + n + "' (built in: " + String.join(", ", NAMES) + "; or a " + FORMAT + " file)");
        }
        try {
            return parse(MAPPER.readTree(p.toFile()), p.toString());
        } catch (IOException e) {
            throw new JmoeException(p.toString(), "not a hardware profile: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /** Reads a profile tree; per-card figures are split over the card's dies. */
    static Hardware parse(JsonNode n, String who) {
        if (n == null || !n.isObject()) throw new JmoeException(who, "not a hardware profile: top level is not a JSON object");
        if (!FORMAT.equals(n.path("format").asText())) throw new JmoeException(who, "format is '" + n.path("format").asText() + "', expected " + FORMAT, "field format");
        int dies = (int) positive(n, "dies_per_card", who);
        JsonNode card = n.path("per_card");
        Map<String, Double> peak = new TreeMap<>();
        JsonNode pk = card.path("peak_tflops");
        if (!pk.isObject() || pk.isEmpty()) throw new JmoeException(who, "missing object per_card.peak_tflops", "field per_card.peak_tflops");
        for (var it = pk.fields(); it.hasNext(); ) {
            var e = it.next();
            if (!List.of("fp32", "bf16", "fp16", "int8", "fp8").contains(e.getKey())) {
                throw new JmoeException(who, "unknown dtype key '" + e.getKey() + "' (fp32, bf16, fp16, int8, fp8)", "field per_card.peak_tflops");
            }
            peak.put(e.getKey(), positive(pk, e.getKey(), who) / dies);
        }
        JsonNode eff = n.path("efficiency");
        double linkEff = fraction(eff, "link", who);
        Map<Level, Link> links = new EnumMap<>(Level.class);
        JsonNode ls = n.path("links_per_device");
        for (Level l : Level.LINKS) {
            JsonNode x = ls.path(l.name().toLowerCase(java.util.Locale.ROOT));
            if (!x.isObject()) throw new JmoeException(who, "missing links_per_device." + l.name().toLowerCase(java.util.Locale.ROOT), "field links_per_device");
            double lat = x.path("latency_us").asDouble(-1);
            if (!(lat >= 0)) throw new JmoeException(who, "latency_us must be >= 0", "field links_per_device");
            links.put(l, new Link(lat, positive(x, "bandwidth_gbs", who) * linkEff));
        }
        try {
            return new Hardware(n.path("name").asText(who), n.path("description").asText(""), peak,
                    positive(card, "memory_bandwidth_gbs", who) / dies, positive(card, "memory_gb", who) / dies, dies,
                    (int) positive(n, "cards_per_node", who), (int) positive(n, "group_cards", who), links,
                    fraction(eff, "compute", who), fraction(eff, "memory", who), Map.of(),
                    n.path("kernel_overhead_us").asDouble(0), positive(n, "eps_chunk_overhead_us", who),
                    (int) positive(n, "mma_tile_rows", who), fraction(n, "usable_memory_fraction", who), List.of(), 0);
        } catch (IllegalArgumentException e) {
            throw new JmoeException(who, e.getMessage());
        }
    }

    /**
     * This machine as one card, one card per node, from the calibration: the GEMM rate the engine measured per
     * weight format (not the FMA peak) as its sustained compute (int8 at the Q8_0 rate, what the engine runs); weights
     * stream at the measured matrix-vector rate of their format net of the fixed cost per product
     * ({@link #weightStreamGbs}), which is the cost of every operator ({@link #launchOverheadUs}); the engine's 3-row
     * GEMM tiles and expert-kernel rule; links between cards are the gRPC transport's figures. With {@code mesh} > 1
     * the card is cut into that many dies — the thread groups of a one-JVM mesh ({@code bench-ep --devices}) —
     * sharing its compute and bandwidth, linked by the in-process transport. The tile GEMMs' compute is derated by
     * the engine's measured efficiency per rows ({@link #rowEfficiency}); the EPS per-chunk overhead is
     * {@link #epsChunkOverheadUs}.
     */
    public static Hardware localCpu(Calibration c, int mesh) {
        return localCpu(c, mesh, false);
    }

    /**
     * As {@link #localCpu(Calibration, int)}; with {@code workers} the devices are worker JVMs on this machine
     * ({@code --local-workers}), linked by the calibrated gRPC loopback instead of the in-process transport.
     */
    public static Hardware localCpu(Calibration c, int mesh, boolean workers) {
        double gemmTflops = c.gemmGflopsF32() / 1000;
        // the block formats' prefill rate as measured (weights decoded to f32 tiles); files without it: the rate
        // the engine's Q8_0 prefill had against F32 before its kernels decoded to f32 tiles (0.3)
        double q8 = c.gemmGflops("Q8_0", 0.3 * c.gemmGflopsF32()) / 1000, q4 = c.gemmGflops("Q4_0", q8 * 1000) / 1000;
        Map<String, Double> wholePeak = new TreeMap<>(Map.of("fp32", gemmTflops, "bf16", c.gemmGflops("BF16", c.gemmGflopsF32()) / 1000,
                "fp16", c.gemmGflops("F16", c.gemmGflopsF32()) / 1000, "int8", q8, "q8_0", q8, "q4_0", q4));
        Map<String, Double> peak = new TreeMap<>();
        wholePeak.forEach((k, v) -> peak.put(k, v / mesh));
        double launchUs = launchOverheadUs(c);
        Map<String, Double> wholeStream = new TreeMap<>(Map.of("f32", weightStreamGbs(c, "F32", launchUs), "bf16", weightStreamGbs(c, "BF16", launchUs),
                "fp16", weightStreamGbs(c, "F16", launchUs), "w8a8", weightStreamGbs(c, "Q8_0", launchUs), "q8_0", weightStreamGbs(c, "Q8_0", launchUs),
                "q4_0", weightStreamGbs(c, "Q4_0", launchUs)));
        // the grouped expert kernel streams the calibrated model's format at the rate the decode probe timed it (one
        // token's experts through the grouped kernel, the model's layers in turn); files without it: the model pass's
        // own rate, per-product costs included (its threads run their experts' products one after another, with no
        // pool hand-off to net out; the net rate above serves the dense kernel, which pays a hand-off per product)
        JsonNode mm = c.raw().path("matvec_model");
        SimDtype passFormat = simDtypeOf(mm.path("dtype").asText(""));
        if (passFormat != null && mm.path("gbs").asDouble(0) > 0) wholeStream.put(Hardware.groupedStreamKey(passFormat), mm.path("gbs").asDouble());
        JsonNode dm = c.raw().path("decode_model");
        SimDtype decodeFormat = simDtypeOf(dm.path("dtype").asText(""));
        double decodeGbs = groupedDecodeGbs(dm, c.memoryBandwidthGbs(), launchUs);
        if (decodeFormat != null && decodeGbs > 0) wholeStream.put(Hardware.groupedStreamKey(decodeFormat), decodeGbs);
        Map<String, Double> stream = new TreeMap<>();
        wholeStream.forEach((k, v) -> stream.put(k, v / mesh));
        Calibration.Link g = c.transport("grpc"), l = c.transport("local");
        Map<Level, Link> links = new EnumMap<>(Level.class);
        // worker JVMs: their rows go through the coordinator (the hub below); what else the plan moves between
        // "devices" (attention's tensor-parallel all-reduce) stays inside the coordinator, on the in-process transport
        links.put(Level.GROUP, new Link(l.latencyUs(), l.bandwidthGbs()));
        links.put(Level.NODE, new Link(g.latencyUs(), g.bandwidthGbs()));
        links.put(Level.CLUSTER, new Link(g.latencyUs(), g.bandwidthGbs()));
        String name = workers ? "local-cpu:workers=" + mesh : mesh == 1 ? "local-cpu" : "local-cpu:mesh=" + mesh;
        Hardware whole = new Hardware(name, "this machine (" + c.threads() + " threads, " + (c.measured() ? "calibrated" : "calibration defaults") + ")",
                wholePeak, c.memoryBandwidthGbs(), physicalMemoryGb(), 1, 1, 1, links, 1.0, 1.0,
                wholeStream, launchUs, c.epsChunkOverheadUs(), 3, 0.9, List.of(), groupedFromActive(c, c.threads()), groupedDtype(c),
                groupedFromActive(org.jmoe.model.ExpertKernels.DEFAULT_CROSSOVER, c.threads()), null, null);
        List<double[]> curve = rowEfficiency(whole, c.raw().path("expert_kernels"));
        double chunkUs = epsChunkOverheadUs(whole.withRowEfficiency(curve), c);
        int deviceThreads = Math.max(1, c.threads() / mesh);
        Hardware.AttentionRates attention = mesh > 1 ? attentionRates(c, workers) : attentionRates(c);
        Hardware cut = new Hardware(name, whole.description() + (workers ? ", " + mesh + " worker JVMs over gRPC" : mesh > 1 ? ", cut into " + mesh + " devices" : ""), peak,
                c.memoryBandwidthGbs() / mesh, physicalMemoryGb() / mesh, mesh, 1, 1, links, 1.0, 1.0, stream,
                launchUs, chunkUs, 3, 0.9, curve, groupedFromActive(c, deviceThreads), groupedDtype(c),
                groupedFromActive(org.jmoe.model.ExpertKernels.DEFAULT_CROSSOVER, deviceThreads), workers ? hubLink(c, mesh) : mesh > 1 ? meshHub(c, mesh) : null,
                attention == null ? null : attention.per(mesh));
        JsonNode ek = c.raw().path("expert_kernels");
        return mesh > 1 ? cut.withRowEfficiency(deviceEfficiency(cut, ek, workers ? "worker_points" : "mesh_points", mesh)) : cut;
    }

    /** A device probe point's compute time, ms: the busiest worker's own (worker points), else the run's wall (mesh points). */
    private static double deviceMs(JsonNode p) {
        JsonNode cm = p.path("compute_ms");
        if (!cm.isArray()) return p.path("ms").asDouble(0);
        double max = 0;
        for (JsonNode v : cm) max = Math.max(max, v.asDouble(0));
        return max;
    }

    /**
     * The row-efficiency curve of a machine cut into {@code mesh} devices, from the calibration's mesh-device probe
     * ({@code expert_kernels.mesh_points}: the expert layer with its rows split over one-thread devices running at
     * once). At each probed batch, the factor by which the devices' compute ran slower (or faster) than the whole
     * machine's curve says, for the probed loads; the curve divided by it, interpolated between the probed rows per
     * expert (held beyond them). Without points for this device count: the whole machine's curve.
     */
    static List<double[]> deviceEfficiency(Hardware device, JsonNode sweep, int mesh) {
        return deviceEfficiency(device, sweep, "mesh_points", mesh);
    }

    /**
     * As {@link #deviceEfficiency(Hardware, JsonNode, int)} from the probe points under {@code key}: {@code mesh_points}
     * (thread groups of one JVM, timed as a whole) or {@code worker_points} (worker JVMs fed by this process, the
     * busiest worker's own compute: the workers' compute beside the coordinator's encoding and decoding).
     */
    static List<double[]> deviceEfficiency(Hardware device, JsonNode sweep, String key, int mesh) {
        List<double[]> curve = device.rowEfficiency();
        int hidden = sweep.path("hidden").asInt(0), ffn = sweep.path("ffn").asInt(0);
        if (curve.isEmpty() || hidden <= 0 || ffn <= 0) return curve;
        SimDtype dt = sweepDtype(sweep);
        java.util.TreeMap<Double, Double> factor = new java.util.TreeMap<>();
        for (JsonNode p : sweep.path(key)) {
            double ms = deviceMs(p);
            JsonNode dr = p.path("device_rows");
            if (p.path("devices").asInt(0) != mesh || !(ms > 0) || !dr.isArray() || dr.size() != mesh) continue;
            long[][] rows = new long[mesh][];
            long total = 0, active = 0;
            for (int d = 0; d < mesh; d++) {
                rows[d] = new long[dr.get(d).size()];
                for (int i = 0; i < rows[d].length; i++) {
                    rows[d][i] = Math.max(0, dr.get(d).get(i).asLong(0));
                    total += rows[d][i];
                    if (rows[d][i] > 0) active++;
                }
            }
            if (total <= active) continue; // one row per expert runs the matrix-vector kernels, not the tiles
            double f = 1;
            for (int it = 0; it < 6; it++) {
                double now = f;
                Roofline r = new Roofline(device.withRowEfficiency(scaled(curve, x -> now)), dt);
                // as the cost model runs an engine's devices (StageModel): every device's experts at their own
                // efficiency, the sum shared out by rows, the busiest device's share
                double sum = 0;
                long busiest = 0;
                for (long[] d : rows) {
                    sum += r.experts(d, hidden, ffn);
                    busiest = Math.max(busiest, java.util.Arrays.stream(d).sum());
                }
                double sim = sum * busiest / total;
                f = Math.max(0.25, Math.min(4, f * ms * 1e-3 / sim));
            }
            factor.put((double) total / active, f);
        }
        if (factor.isEmpty()) return curve;
        return scaled(curve, rows -> factorAt(factor, rows));
    }

    private static List<double[]> scaled(List<double[]> curve, java.util.function.DoubleUnaryOperator factorAtRows) {
        List<double[]> out = new java.util.ArrayList<>();
        for (double[] p : curve) out.add(new double[]{p[0], p[1] / factorAtRows.applyAsDouble(p[0])});
        return out;
    }

    /** The factor at {@code rows} per expert: log-linear between probed points, held beyond them. */
    private static double factorAt(java.util.TreeMap<Double, Double> f, double rows) {
        var lo = f.floorEntry(rows);
        var hi = f.ceilingEntry(rows);
        if (lo == null) return hi.getValue();
        if (hi == null || hi.getKey().equals(lo.getKey())) return lo.getValue();
        double t = Math.log(rows / lo.getKey()) / Math.log(hi.getKey() / lo.getKey());
        return lo.getValue() + t * (hi.getValue() - lo.getValue());
    }

    /**
     * The engine's attention blocks in prefill as the calibration's attention probe timed them inside a prefill of the
     * calibrated model ({@code attention_probe}); null without the probe.
     */
    static Hardware.AttentionRates attentionRates(Calibration c) {
        return rates(c.raw().path("attention_probe"));
    }

    /**
     * Attention's rates on a machine cut into devices: the calibration's probe of a prefill's attention blocks with
     * the experts on two one-thread devices of the same process ({@code expert_kernels.mesh_attention}) or on two
     * worker JVMs ({@code expert_kernels.worker_attention}) — the blocks run in the coordinator either way, but what
     * runs beside them slows them (up to 9% and 11–29% here) — else the one-device probe. Decode's attention takes the ratio of
     * attention per decode step beside the devices ({@code mesh_decode.attention_ms}, {@code
     * worker_decode.attention_ms}) to attention per decode step alone ({@code decode_attention.attention_ms}) times
     * the cost model's, where the file has both.
     */
    static Hardware.AttentionRates attentionRates(Calibration c, boolean workers) {
        JsonNode ek = c.raw().path("expert_kernels");
        Hardware.AttentionRates beside = rates(ek.path(workers ? "worker_attention" : "mesh_attention"));
        Hardware.AttentionRates r = beside != null ? beside : attentionRates(c);
        // decode: attention per step beside the devices (mesh_decode / worker_decode) over attention per step alone
        double alone = c.raw().path("decode_attention").path("attention_ms").asDouble(0);
        double there = ek.path(workers ? "worker_decode" : "mesh_decode").path("attention_ms").asDouble(0);
        return r == null || !(alone > 0) || !(there > 0) ? r : r.withDecodeFactor(there / alone);
    }

    private static Hardware.AttentionRates rates(JsonNode a) {
        double proj = a.path("projection_gflops").asDouble(0), core = a.path("core_gflops").asDouble(0);
        return proj > 0 && core > 0 ? new Hardware.AttentionRates(proj, core) : null;
    }

    /**
     * The coordinator's link to worker JVMs on this machine ({@code local-cpu:workers=D}): the calibration's
     * {@code transport.grpc_workers} probe (worker JVMs fed by one process, the engine's encoding and copies
     * included, the workers computing beside the transfers), else the in-process gRPC loopback's figures, which leave
     * all of that out.
     */
    static Link hubLink(Calibration c) {
        Calibration.Link w = c.transports().get("grpc_workers");
        if (w == null) w = c.transport("grpc");
        return new Link(w.latencyUs(), w.bandwidthGbs());
    }

    /** The most rows a worker point may have to set the link's latency (a few tokens' rows: their bytes are negligible). */
    static final int MAX_LATENCY_ROWS = 64;

    /**
     * The link of a machine cut into {@code mesh} thread-group devices ({@code local-cpu:mesh=D}), as a hub: the
     * coordinating thread holds every token and hands each device its rows and takes their outputs back, one
     * device after another, as the engine's in-process mesh does. Its latency per message from the calibration's
     * one-token layers through the mesh ({@code expert_kernels.mesh_decode}: what a decode step's layer took beyond
     * its busier device's compute, D messages out and D back), its bandwidth the in-process copy's. Null (the
     * in-process transport between devices, as before) for files without that probe.
     */
    static Link meshHub(Calibration c, int mesh) {
        JsonNode ek = c.raw().path("expert_kernels"), p = ek.path("mesh_decode");
        double beyondS = p.path("beyond_ms").asDouble(-1) * 1e-3;
        int hidden = ek.path("hidden").asInt(0), k = ek.path("top_k").asInt(0);
        if (p.path("devices").asInt(0) != mesh || p.path("tokens").asInt(0) != 1 || !(beyondS >= 0) || hidden <= 0 || k <= 0) return null;
        Calibration.Link l = c.transport("local");
        // the hub's one-token layer: 2·D messages and the token's k rows out and back at the copy bandwidth
        double rowsS = 2.0 * k * hidden * 4 / (l.bandwidthGbs() * 1e9);
        double latencyS = Math.max(0, beyondS - rowsS) / (2.0 * mesh);
        return new Link(Math.max(l.latencyUs(), latencyS * 1e6), l.bandwidthGbs());
    }

    /**
     * As {@link #hubLink(Calibration)}, for {@code workers} worker JVMs: where the calibration ran the model's expert
     * layer on that many workers ({@code expert_kernels.worker_points}), the link that layer had. At each probed
     * batch, what the layer took beyond the busiest worker's compute ({@code beyond_ms}, the mean over the probe's
     * layers; files without it: the wall less the busiest worker's compute) is a message each way per
     * worker at the latency plus the rows' bytes out and back over the bandwidth. The smallest batch (a decode step's
     * layer, at most {@value #MAX_LATENCY_ROWS} rows: its bytes are a rounding error) sets the latency, the others the
     * bandwidth (least squares through zero once the messages' latency is taken out); the two are solved together.
     * That time holds all the layer does besides its compute: encoding, the wire, decoding and scattering the
     * answers, and the waits between, which the stand-in workers of the link probe leave out. Without such a small
     * point only the bandwidth is fitted, at the link probe's latency. Where the calibration also ran decode steps
     * through the workers ({@code expert_kernels.worker_decode}: one-token layers reached between attention blocks, as
     * in generation), their time beyond compute replaces the one-token point timed back to back (which moved 1.5–2.4 ms
     * over six calibrations here, against 1.7–2.0 inside decode steps and 1.4–1.7 in the benchmarks' generation).
     */
    static Link hubLink(Calibration c, int workers) {
        Link base = hubLink(c);
        JsonNode ek = c.raw().path("expert_kernels");
        int hidden = ek.path("hidden").asInt(0);
        if (hidden <= 0) return base;
        List<double[]> pts = new java.util.ArrayList<>(); // {bytes, seconds beyond the busiest worker's compute}
        for (JsonNode p : ek.path("worker_points")) {
            if (p.path("devices").asInt(0) != workers) continue;
            long rows = 0;
            for (JsonNode d : p.path("device_rows")) for (JsonNode v : d) rows += Math.max(0, v.asLong(0));
            double wallS = p.path("ms").asDouble(0) * 1e-3, computeS = deviceMs(p) * 1e-3;
            if (rows == 0 || !(wallS > 0)) continue;
            double beyondS = p.has("beyond_ms") ? p.path("beyond_ms").asDouble(0) * 1e-3 : wallS - computeS;
            pts.add(new double[]{2.0 * rows * hidden * 4, Math.max(0, beyondS)});
        }
        // decode steps through the workers (worker_decode: one-token layers reached between attention blocks, as in
        // generation) stand for the one-token point timed back to back, which they replace
        JsonNode wd = ek.path("worker_decode");
        int k = ek.path("top_k").asInt(0);
        if (wd.path("devices").asInt(0) == workers && wd.path("tokens").asInt(0) == 1 && wd.path("beyond_ms").asDouble(-1) >= 0 && k > 0) {
            pts.removeIf(p -> p[0] <= 2.0 * MAX_LATENCY_ROWS * hidden * 4);
            pts.add(new double[]{2.0 * k * hidden * 4, wd.path("beyond_ms").asDouble() * 1e-3});
        }
        if (pts.isEmpty()) return base;
        pts.sort(java.util.Comparator.comparingDouble(p -> p[0]));
        boolean fitLatency = pts.size() >= 2 && pts.getFirst()[0] <= 2.0 * MAX_LATENCY_ROWS * hidden * 4;
        double messages = 2.0 * workers, lat = base.latencyUs() * 1e-6, bw = base.bandwidthGbs() * 1e9;
        for (int it = 0; it < 50; it++) {
            if (fitLatency) lat = Math.max(1e-6, (pts.getFirst()[1] - pts.getFirst()[0] / bw) / messages);
            double sbb = 0, sby = 0;
            for (int i = fitLatency ? 1 : 0; i < pts.size(); i++) {
                double[] p = pts.get(i);
                sbb += p[0] * p[0];
                sby += p[0] * (p[1] - messages * lat);
            }
            if (!(sby > 0)) return new Link(lat * 1e6, base.bandwidthGbs());
            bw = sbb / sby;
        }
        return new Link(lat * 1e6, bw / 1e9);
    }

    /**
     * The weight format the calibrated crossover was measured on, as the simulator names it (null: the file does not
     * say, and the crossover applies to every format, as in the engine); a format the simulator does not have
     * keeps its engine name, so that no simulated format matches it.
     */
    /** The simulator's format for an engine weight format's name (F32, F16, BF16, Q8_0, Q4_0); null for others. */
    static SimDtype simDtypeOf(String dtype) {
        return switch (dtype) {
            case "F32" -> SimDtype.F32;
            case "F16" -> SimDtype.FP16;
            case "BF16" -> SimDtype.BF16;
            case "Q8_0" -> SimDtype.Q8_0;
            case "Q4_0" -> SimDtype.Q4_0;
            default -> null;
        };
    }

    static String groupedDtype(Calibration c) {
        org.jmoe.tensor.DType d = c.expertKernelsDtype();
        if (d == null) return null;
        return switch (d) {
            case F32 -> SimDtype.F32.label();
            case F16 -> SimDtype.FP16.label();
            case BF16 -> SimDtype.BF16.label();
            case Q8_0 -> SimDtype.Q8_0.label();
            case Q4_0 -> SimDtype.Q4_0.label();
            default -> d.name();
        };
    }

    /**
     * The engine's expert-kernel rule ({@code ExpertKernels}) on a device of {@code threads} threads: grouped from the
     * calibrated crossover (active experts per thread) times the threads; a device of one thread never groups.
     */
    static double groupedFromActive(Calibration c, int threads) {
        return groupedFromActive(c.groupedMinActivePerThread(), threads);
    }

    private static double groupedFromActive(double perThread, int threads) {
        return threads <= 1 ? Double.POSITIVE_INFINITY : perThread * threads;
    }

    /**
     * The fixed cost of one operator on this machine: the calibration's fixed cost of one F32 matrix-vector product
     * ({@code matvec_call_us}: handing the product to the pool's threads and joining them), else 5 µs.
     */
    static double launchOverheadUs(Calibration c) {
        JsonNode v = c.raw().path("matvec_call_us").path("F32");
        return v.isNumber() && v.asDouble() >= 0 ? v.asDouble() : 5;
    }

    /**
     * The grouped kernel's weight GB/s from the calibration's decode probe ({@code decode_model}: one token's k
     * experts per MoE layer, the layers in turn, ms per layer): the layer's time less what {@link Roofline#experts}
     * charges a one-token layer beside the weights — its activations at {@code memoryGbs} (f32: each expert reads
     * the token and writes its output, {@code 2·hidden}, and passes gate, up and their product, {@code 3·ffn}, once
     * in the kernel and once more in the combine's memory pass) and three operator overheads of {@code launchUs}
     * (two in the kernel, one in that memory pass) — so that the simulator's one-token layer takes what the probe
     * measured. 0 when the file has no usable probe.
     */
    static double groupedDecodeGbs(JsonNode dm, double memoryGbs, double launchUs) {
        double ms = dm.path("ms_per_layer").asDouble(0), bytes = dm.path("bytes_per_layer").asDouble(0);
        int k = dm.path("top_k").asInt(0), hidden = dm.path("hidden").asInt(0), ffn = dm.path("ffn").asInt(0);
        if (!(ms > 0) || !(bytes > 0) || k <= 0 || hidden <= 0 || ffn <= 0 || !(memoryGbs > 0)) return 0;
        double act = 4.0 * k * (2.0 * hidden + 3.0 * ffn + 3.0 * ffn);
        double net = ms * 1e-3 - act / (memoryGbs * 1e9) - 3 * launchUs * 1e-6;
        return net > 0 ? bytes / net / 1e9 : bytes / (ms * 1e-3) / 1e9;
    }

    /**
     * GB/s at which weights of {@code dtype} stream through the engine's one-token products, the fixed cost of each
     * product taken out. In order: the pass over a model's own expert matrices ({@code matvec_model}, when {@code
     * jmoe calibrate -m} measured that dtype: the model's shapes and memory-mapped pages) less its products' fixed
     * cost; the anonymous 1024 x 2048 probe less its fixed cost ({@code matvec_stream_gbs}); the plain probe ({@code
     * matvec_gbs}, older files). The fixed cost netted out of the pass is the format's own ({@code
     * matvec_call_us} of that dtype) where the calibration measured one below the operator overhead {@code
     * launchUs}: a format whose small products stream no slower per byte than large ones (Q8_0, whose products
     * decode blocks as they go) has no such cost to take out, and netting out the F32 figure from it would
     * stream its weights faster than memory.
     */
    static double weightStreamGbs(Calibration c, String dtype, double launchUs) {
        JsonNode mm = c.raw().path("matvec_model");
        if (dtype.equals(mm.path("dtype").asText())) {
            double ms = mm.path("ms").asDouble(0), bytes = mm.path("bytes").asDouble(0), products = mm.path("products").asDouble(0);
            JsonNode own = c.raw().path("matvec_call_us").path(dtype);
            double callUs = own.isNumber() && own.asDouble() >= 0 ? Math.min(launchUs, own.asDouble()) : launchUs;
            if (ms > 0 && bytes > 0 && products > 0) {
                double net = ms * 1e-3 - products * callUs * 1e-6;
                if (net > 0) return bytes / net / 1e9;
            }
            if (mm.path("gbs").asDouble(0) > 0) return mm.path("gbs").asDouble();
        }
        JsonNode st = c.raw().path("matvec_stream_gbs").path(dtype);
        if (st.isNumber() && st.asDouble() > 0) return st.asDouble();
        return c.matvecGbs(dtype);
    }

    /**
     * The EPS per-chunk overhead the simulator adds on this machine: what the calibration's chunk probe (a layer's
     * tokens run as one batch and as N chunks, {@code eps_chunk_probe}) measured beyond what the cost model already
     * charges for N thinner chunks — each chunk re-reading its active experts' weights and paying tile waste, which
     * {@link Roofline#experts} prices per chunk — per added chunk, plus the hand-off of each chunk to the device's
     * communication thread. The calibration's own {@code eps_chunk_overhead_us} is the whole difference (the
     * engine's chunk planner needs it so, its N* = √(C/k) having no other term for the re-reads); taking it here
     * would count the re-reads twice. Files without the probe's timings: that figure.
     */
    static double epsChunkOverheadUs(Hardware machine, Calibration c) {
        JsonNode probe = c.raw().path("eps_chunk_probe"), sweep = c.raw().path("expert_kernels");
        int tokens = probe.path("tokens").asInt(0), chunks = probe.path("chunks").asInt(0);
        double one = probe.path("one_ms").asDouble(0), chunked = probe.path("chunked_ms").asDouble(0);
        int hidden = sweep.path("hidden").asInt(0), ffn = sweep.path("ffn").asInt(0), experts = sweep.path("experts").asInt(0), k = sweep.path("top_k").asInt(0);
        if (tokens <= 0 || chunks < 2 || !(one > 0) || !(chunked > 0) || hidden <= 0 || ffn <= 0 || experts <= 0 || k <= 0) return c.epsChunkOverheadUs();
        Roofline r = new Roofline(machine, sweepDtype(sweep));
        double modelled = chunks * r.experts(spread(tokens / chunks, k, experts), hidden, ffn) - r.experts(spread(tokens, k, experts), hidden, ffn);
        double residual = ((chunked - one) * 1e-3 - modelled) / (chunks - 1);
        return Math.max(0, residual) * 1e6 + c.transport("local").latencyUs();
    }

    /**
     * Rows per expert when {@code tokens} tokens each pick {@code k} distinct experts of {@code experts} uniformly:
     * the expected number of experts hit, E·(1 − (1 − k/E)^T) (rounded), sharing the T·k rows evenly.
     */
    static long[] spread(int tokens, int k, int experts) {
        long total = (long) tokens * k;
        int active = (int) Math.max(1, Math.min(Math.min(experts, total), Math.round(experts * (1 - Math.pow(1 - (double) k / experts, tokens)))));
        long[] rows = new long[active];
        for (int e = 0; e < active; e++) rows[e] = total / active + (e < total % active ? 1 : 0);
        return rows;
    }

    private static SimDtype sweepDtype(JsonNode sweep) {
        return switch (sweep.path("dtype").asText("F32")) {
            case "BF16" -> SimDtype.BF16;
            case "F16" -> SimDtype.FP16;
            case "Q8_0" -> SimDtype.Q8_0;
            case "Q4_0" -> SimDtype.Q4_0;
            default -> SimDtype.F32;
        };
    }

    /**
     * The engine's compute efficiency by rows per expert, from the calibration's expert-kernel sweep (one MoE layer's
     * experts timed at 1..256 tokens, grouped and dense kernels): at each point the compute time of the same work on
     * {@code base} (whole tiles at the GEMM rate) over the faster kernel's measured time, at the layer's own top-k. Points with the same rows per
     * expert are averaged. Empty
     * when the file has no sweep (the defaults).
     */
    static List<double[]> rowEfficiency(Hardware base, JsonNode sweep) {
        JsonNode pts = sweep.path("points");
        int hidden = sweep.path("hidden").asInt(0), ffn = sweep.path("ffn").asInt(0);
        if (!pts.isArray() || pts.isEmpty() || hidden <= 0 || ffn <= 0) return List.of();
        SimDtype d = sweepDtype(sweep);
        Roofline r = new Roofline(base, d);
        java.util.TreeMap<Double, double[]> acc = new java.util.TreeMap<>();
        int modelK = sweep.path("top_k").asInt(0);
        for (JsonNode p : pts) {
            int tokens = p.path("tokens").asInt(0), k = p.path("top_k").asInt(modelK), active = p.path("active_experts").asInt(0);
            if (k != modelK) continue; // the crossover probes at smaller k are not the layer's own load
            double ms = Math.min(p.path("grouped_ms").asDouble(Double.MAX_VALUE), p.path("dense_ms").asDouble(Double.MAX_VALUE));
            if (tokens <= 0 || k <= 0 || active <= 0 || !(ms > 0) || ms == Double.MAX_VALUE) continue;
            long total = (long) tokens * k;
            if (total <= active) continue; // one row per expert runs the matrix-vector kernels, not the tiles (Roofline)
            long[] rows = new long[active];
            for (int e = 0; e < active; e++) rows[e] = total / active + (e < total % active ? 1 : 0);
            // the sweep repeats one layer, whose weights stay in the cache between repetitions: it times the
            // kernels' compute, not the DRAM streaming the matrix-vector probes measure. So the efficiency is the
            // compute the roofline charges (every expert's rows in whole tiles at the GEMM rate) over the measured
            // time, and the cost model divides only the compute term by it; above 1 where the kernel beats the
            // tiled estimate (one row runs the matrix-vector kernel, which has no tiles)
            double compute = 0;
            for (long x : rows) compute += 2 * r.tiled(x) * 3.0 * ffn * hidden;
            double eff = compute / base.flops(d) / (ms * 1e-3);
            double[] a = acc.computeIfAbsent((double) total / active, x -> new double[2]);
            a[0] += eff;
            a[1]++;
        }
        List<double[]> out = new java.util.ArrayList<>();
        for (var e : acc.entrySet()) out.add(new double[]{e.getKey(), e.getValue()[0] / e.getValue()[1]});
        return out;
    }

    private static double physicalMemoryGb() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize() / 1e9;
        }
        return Runtime.getRuntime().maxMemory() / 1e9;
    }

    private static double positive(JsonNode n, String field, String who) {
        JsonNode v = n.path(field);
        if (!v.isNumber() || !(v.asDouble() > 0) || Double.isInfinite(v.asDouble())) {
            throw new JmoeException(who, "missing or non-positive " + field, "field " + field);
        }
        return v.asDouble();
    }

    private static double fraction(JsonNode n, String field, String who) {
        double v = positive(n, field, who);
        if (v > 1) throw new JmoeException(who, field + " must be at most 1, got " + v, "field " + field);
        return v;
    }
}
