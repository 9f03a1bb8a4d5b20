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
        if (n.equals("local-cpu")) return localCpu(Calibration.loadOrDefaults());
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
                    (int) positive(n, "mma_tile_rows", who), fraction(n, "usable_memory_fraction", who));
        } catch (IllegalArgumentException e) {
            throw new JmoeException(who, e.getMessage());
        }
    }

    /**
     * This machine as one card of one die, one card per node, from the calibration: the F32 GEMM rate the engine
     * measured (not the FMA peak) as its sustained compute, BF16/FP16 the same (they are decoded into the F32 tiles),
     * int8 at 0.3 of it (the engine's Q8_0 prefill against F32, docs/BENCHMARKS.md); weights stream at the measured
     * matrix-vector bandwidth of their dtype; every link is the gRPC transport's figures.
     */
    public static Hardware localCpu(Calibration c) {
        double gemmTflops = c.gemmGflopsF32() / 1000;
        Map<String, Double> peak = new TreeMap<>(Map.of("fp32", gemmTflops, "bf16", gemmTflops, "fp16", gemmTflops, "int8", 0.3 * gemmTflops));
        Map<String, Double> stream = new TreeMap<>();
        stream.put("f32", c.matvecGbs("F32"));
        stream.put("bf16", c.matvecGbs("BF16"));
        stream.put("fp16", c.matvecGbs("F16"));
        stream.put("w8a8", c.matvecGbs("Q8_0"));
        Calibration.Link g = c.transport("grpc");
        Link link = new Link(g.latencyUs(), g.bandwidthGbs());
        Map<Level, Link> links = new EnumMap<>(Level.class);
        for (Level l : Level.LINKS) links.put(l, link);
        return new Hardware("local-cpu", "this machine (" + c.threads() + " threads, " + (c.measured() ? "calibrated" : "calibration defaults") + ")",
                peak, c.memoryBandwidthGbs(), physicalMemoryGb(), 1, 1, 1, links, 1.0, 1.0, stream,
                5, c.epsChunkOverheadUs(), 4, 0.9);
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
