package org.jmoe.calibrate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;
import org.jmoe.format.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@code jmoe calibrate} measured on this machine (format {@value #FORMAT}, docs/CALIBRATION.md): peak and
 * GEMM FP32 throughput, memory bandwidth, matrix-vector bandwidth per dtype, the grouped-vs-dense expert
 * kernel crossover, transport latency and bandwidth, and the EPS per-chunk overhead. The expert-parallel
 * scheduler and the simulator's {@code local-cpu} profile read it; when the file is missing they use
 * {@link #defaults()} (figures measured on the reference 2-core AVX2 machine, documented in CALIBRATION.md).
 *
 * @param peakGflopsF32          register-resident FMA throughput, all threads
 * @param gemmGflopsF32          the engine's F32 GEMM on a prefill-shaped product, all threads
 * @param memoryBandwidthGbs     streaming read bandwidth, all threads
 * @param matvecGbs              weight bytes per second of the engine's matrix-vector kernel, per dtype name
 * @param groupedMinActivePerThread the expert kernel crossover: run whole experts in parallel ("grouped") when
 *                               the active experts per thread reach this, else split each expert's GEMMs ("dense")
 * @param transports             per transport name ({@code local}, {@code grpc}): latency and bandwidth
 * @param epsChunkOverheadUs     the fixed cost of one more EPS chunk (k of N* = sqrt(C/k)), microseconds
 * @param threads                threads the measurements used
 * @param raw                    the whole file as read (details such as the kernel sweep), never null
 */
public record Calibration(double peakGflopsF32, double gemmGflopsF32, double memoryBandwidthGbs,
                          Map<String, Double> matvecGbs, double groupedMinActivePerThread,
                          Map<String, Link> transports, double epsChunkOverheadUs, int threads, JsonNode raw) {
    public static final String FORMAT = "jmoe-calibration/1";
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** A transport's one-message latency and streaming bandwidth. */
    public record Link(double latencyUs, double bandwidthGbs) {
        /** Seconds to move {@code bytes} in one message. */
        public double seconds(double bytes) { return latencyUs * 1e-6 + bytes / (bandwidthGbs * 1e9); }
    }

    /** Documented fall-backs (reference machine: 2 cores AMD EPYC, AVX2, 2 threads) for a missing file. */
    public static Calibration defaults() {
        Map<String, Double> mv = new TreeMap<>(Map.of("F32", 20.0, "F16", 14.0, "BF16", 14.0, "Q8_0", 8.0,
                "Q4_0", 5.0, "Q4_K", 4.0, "Q6_K", 4.0));
        Map<String, Link> tr = new LinkedHashMap<>();
        tr.put("local", new Link(5, 10));
        tr.put("grpc", new Link(150, 1.0));
        return new Calibration(86, 55, 25, mv, 2.0, tr, 60, 2, MAPPER.createObjectNode().put("format", FORMAT).put("source", "defaults"));
    }

    /** The default file: {@code $JMOE_CALIBRATION} (or {@code -Djmoe.calibration}), else {@code ~/.cache/jmoe/calibration.json}. */
    public static Path defaultPath() {
        String prop = System.getProperty("jmoe.calibration");
        if (prop != null && !prop.isBlank()) return Path.of(prop);
        String env = System.getenv("JMOE_CALIBRATION");
        if (env != null && !env.isBlank()) return Path.of(env);
        return Path.of(System.getProperty("user.home"), ".cache", "jmoe", "calibration.json");
    }

    /** The default file if present, else {@link #defaults()}; a present but bad file is an error. */
    public static Calibration loadOrDefaults() {
        Path p = defaultPath();
        return Files.isRegularFile(p) ? read(p) : defaults();
    }

    /** Whether the figures came from a measurement rather than {@link #defaults()}. */
    /**
     * The weight format the expert-kernel sweep ran on ({@code expert_kernels.dtype}), or null when the file does
     * not say or names no known format (the crossover then applies to every format).
     */
    public org.jmoe.tensor.DType expertKernelsDtype() {
        String name = raw.path("expert_kernels").path("dtype").asText("");
        for (org.jmoe.tensor.DType t : org.jmoe.tensor.DType.values()) if (t.name().equals(name)) return t;
        return null;
    }

    public boolean measured() { return !raw.path("source").asText("").equals("defaults"); }

    public static Calibration read(Path file) {
        JsonNode n;
        try {
            n = MAPPER.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new JmoeException(file.toString(), "no such calibration file (run 'jmoe calibrate')");
        } catch (IOException e) {
            throw new JmoeException(file.toString(), "not a calibration file: " + firstLine(e.getMessage()));
        }
        return parse(n, file.toString());
    }

    static Calibration parse(JsonNode n, String where) {
        if (n == null || !n.isObject()) throw new JmoeException(where, "not a calibration file: top level is not a JSON object");
        if (!FORMAT.equals(n.path("format").asText())) {
            throw new JmoeException(where, "format is '" + n.path("format").asText() + "', expected " + FORMAT, "field format");
        }
        Map<String, Double> mv = new TreeMap<>();
        JsonNode m = n.path("matvec_gbs");
        if (!m.isObject()) throw new JmoeException(where, "missing object matvec_gbs", "field matvec_gbs");
        for (var it = m.fields(); it.hasNext(); ) {
            var e = it.next();
            mv.put(e.getKey(), positive(e.getValue(), where, "matvec_gbs." + e.getKey()));
        }
        Map<String, Link> tr = new LinkedHashMap<>();
        JsonNode t = n.path("transport");
        if (!t.isObject()) throw new JmoeException(where, "missing object transport", "field transport");
        for (var it = t.fields(); it.hasNext(); ) {
            var e = it.next();
            tr.put(e.getKey(), new Link(positive(e.getValue().path("latency_us"), where, "transport." + e.getKey() + ".latency_us"),
                    positive(e.getValue().path("bandwidth_gbs"), where, "transport." + e.getKey() + ".bandwidth_gbs")));
        }
        return new Calibration(positive(n.path("peak_gflops_f32"), where, "peak_gflops_f32"),
                positive(n.path("gemm_gflops_f32"), where, "gemm_gflops_f32"),
                positive(n.path("memory_bandwidth_gbs"), where, "memory_bandwidth_gbs"), mv,
                positive(n.path("expert_kernels").path("grouped_min_active_per_thread"), where, "expert_kernels.grouped_min_active_per_thread"),
                tr, positive(n.path("eps_chunk_overhead_us"), where, "eps_chunk_overhead_us"),
                (int) positive(n.path("threads"), where, "threads"), n);
    }

    private static double positive(JsonNode v, String where, String field) {
        if (!v.isNumber()) throw new JmoeException(where, "missing or non-numeric " + field, "field " + field);
        double d = v.asDouble();
        if (!(d > 0) || Double.isInfinite(d)) throw new JmoeException(where, field + " must be a positive number, got " + d, "field " + field);
        return d;
    }

    /** Matrix-vector bandwidth for a dtype, falling back to the F32 figure scaled by nothing (a safe guess). */
    public double matvecGbs(String dtype) {
        Double d = matvecGbs.get(dtype);
        return d != null ? d : matvecGbs.getOrDefault("F32", memoryBandwidthGbs * 0.7);
    }

    /** The engine's GEMM rate with {@code dtype} weights ({@code gemm_gflops}), or {@code otherwise} if not measured. */
    public double gemmGflops(String dtype, double otherwise) {
        if (dtype.equals("F32")) return gemmGflopsF32;
        JsonNode v = raw.path("gemm_gflops").path(dtype);
        return v.isNumber() && v.asDouble() > 0 ? v.asDouble() : otherwise;
    }

    /** A transport's figures; {@code local} and {@code grpc} fall back to {@link #defaults()}. */
    public Link transport(String name) {
        Link l = transports.get(name);
        if (l != null) return l;
        l = defaults().transports.get(name);
        if (l == null) throw new JmoeException("calibration", "no figures for transport '" + name + "'");
        return l;
    }

    /** Writes the file atomically (temporary file + rename). */
    public static void write(Path file, ObjectNode n) {
        parse(n, file.toString()); // never write a file that would not read back
        AtomicFiles.write(file, tmp -> {
            try (var os = Files.newOutputStream(tmp)) {
                MAPPER.writerWithDefaultPrettyPrinter().writeValue(os, n);
            }
        });
    }

    private static String firstLine(String s) {
        if (s == null) return "unreadable";
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }
}
