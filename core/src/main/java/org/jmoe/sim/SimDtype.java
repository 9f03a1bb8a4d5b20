package org.jmoe.sim;

import org.jmoe.JmoeException;

import java.util.Locale;

/**
 * A number format as the simulator sees it: bytes per weight (or KV element), the matrix-unit peak it runs at
 * (a key of {@link Hardware#peakTflops}), and the bytes of an activation row element sent to an expert
 * (dispatch) and returned (combine).
 *
 * <p>W8A8 (int8 weights and activations) and FP8 quantize activations at the GEMM input, so a dispatch can send
 * one byte per element (plus a per-row scale, ignored); the combine returns bf16 partial results. F32 moves four
 * bytes both ways, BF16/FP16 two.
 */
public enum SimDtype {
    F32("f32", 4, "fp32", 4, 4),
    BF16("bf16", 2, "bf16", 2, 2),
    FP16("fp16", 2, "fp16", 2, 2),
    W8A8("w8a8", 1, "int8", 1, 2),
    FP8("fp8", 1, "fp8", 1, 2),
    /**
     * llama.cpp's block formats as jmoe runs them on a CPU (the {@code local-cpu} profile): 32 weights per block with
     * an f16 scale (34 and 18 bytes), activations and exchanged rows in f32.
     */
    Q8_0("q8_0", 34.0 / 32, "q8_0", 4, 4),
    Q4_0("q4_0", 18.0 / 32, "q4_0", 4, 4);

    private final String label;
    private final double bytes;
    private final String peakKey;
    private final double dispatchBytes;
    private final double combineBytes;

    SimDtype(String label, double bytes, String peakKey, double dispatchBytes, double combineBytes) {
        this.label = label;
        this.bytes = bytes;
        this.peakKey = peakKey;
        this.dispatchBytes = dispatchBytes;
        this.combineBytes = combineBytes;
    }

    /** Parses {@code f32|fp32|bf16|fp16|w8a8|int8|fp8|q8_0|q4_0}; {@code where} names the flag in errors. */
    public static SimDtype parse(String s, String where) {
        if (s == null) throw new JmoeException(where, "missing dtype (f32, bf16, fp16, w8a8, fp8, q8_0, q4_0)");
        return switch (s.strip().toLowerCase(Locale.ROOT)) {
            case "f32", "fp32", "float32" -> F32;
            case "bf16" -> BF16;
            case "fp16", "f16" -> FP16;
            case "w8a8", "int8", "i8" -> W8A8;
            case "fp8", "f8" -> FP8;
            case "q8_0" -> Q8_0;
            case "q4_0" -> Q4_0;
            default -> throw new JmoeException(where, "unknown dtype '" + s + "' (f32, bf16, fp16, w8a8, fp8, q8_0, q4_0)");
        };
    }

    /** The name as written on the command line and in JSON. */
    public String label() { return label; }

    /** Bytes per weight or per KV element. */
    public double bytes() { return bytes; }

    /** The key of the matrix-unit peak this format runs at ({@code fp32, bf16, fp16, int8, fp8}). */
    public String peakKey() { return peakKey; }

    /** Whether activations stay f32 (f32 weights, and the CPU block formats, which decode weights to f32). */
    public boolean floatActivations() { return this == F32 || this == Q8_0 || this == Q4_0; }

    /** Bytes per element of a row sent to an expert. */
    public double dispatchBytes() { return dispatchBytes; }

    /** Bytes per element of a row coming back from an expert (and of activations between layers). */
    public double combineBytes() { return combineBytes; }

    @Override
    public String toString() { return label; }
}
