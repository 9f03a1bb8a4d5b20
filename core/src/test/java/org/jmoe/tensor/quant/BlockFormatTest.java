package org.jmoe.tensor.quant;

import org.jmoe.tensor.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** Block layouts against values worked out from the format definitions, and dots against double precision. */
class BlockFormatTest {
    static final DType[] ALL = {DType.Q8_0, DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K};

    static MemorySegment bytes(int n) {
        return Arena.ofAuto().allocate(n, 8);
    }

    static void half(MemorySegment s, long off, float v) {
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, off, Float.floatToFloat16(v));
    }

    @Test
    void q5_0Layout() {
        MemorySegment b = bytes(22);
        half(b, 0, 0.5f);
        b.set(ValueLayout.JAVA_INT_UNALIGNED, 2, (1 << 3) | (1 << 20));   // high bit of value 3 and value 20
        for (int j = 0; j < 16; j++) b.set(ValueLayout.JAVA_BYTE, 6 + j, (byte) (j | ((15 - j) << 4)));
        float[] v = new float[32];
        BlockFormats.of(DType.Q5_0).dequantize(b, 0, v, 0, 32);
        for (int j = 0; j < 16; j++) {
            int lo = j + (j == 3 ? 16 : 0), hi = (15 - j) + (j + 16 == 20 ? 16 : 0);
            assertThat(v[j]).isEqualTo(0.5f * (lo - 16));
            assertThat(v[j + 16]).isEqualTo(0.5f * (hi - 16));
        }
    }

    @Test
    void q4_1Layout() {
        MemorySegment b = bytes(20);
        half(b, 0, 0.25f);
        half(b, 2, -1f);
        for (int j = 0; j < 16; j++) b.set(ValueLayout.JAVA_BYTE, 4 + j, (byte) (j | (7 << 4)));
        float[] v = new float[32];
        BlockFormats.of(DType.Q4_1).dequantize(b, 0, v, 0, 32);
        for (int j = 0; j < 16; j++) {
            assertThat(v[j]).isEqualTo(0.25f * j - 1f);
            assertThat(v[j + 16]).isEqualTo(0.25f * 7 - 1f);
        }
    }

    @Test
    void q4_KLayout() {
        MemorySegment b = bytes(144);
        half(b, 0, 2f);      // d
        half(b, 2, 0.5f);    // dmin
        // sub-block scales/mins: j < 4 in bytes j (scale) and j+4 (min), 6 bits; j >= 4 split over bytes 8..11 and top bits
        int[] sc = {1, 2, 3, 4, 40, 50, 60, 63}, mn = {5, 6, 7, 8, 33, 17, 2, 0};
        byte[] s = new byte[12];
        for (int j = 0; j < 4; j++) {
            s[j] = (byte) (sc[j] | ((sc[j + 4] >> 4) << 6));
            s[j + 4] = (byte) (mn[j] | ((mn[j + 4] >> 4) << 6));
            s[j + 8] = (byte) ((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
        }
        for (int i = 0; i < 12; i++) b.set(ValueLayout.JAVA_BYTE, 4 + i, s[i]);
        for (int i = 0; i < 128; i++) b.set(ValueLayout.JAVA_BYTE, 16 + i, (byte) ((i % 16) | (((i * 7) % 16) << 4)));
        float[] v = new float[256];
        BlockFormats.of(DType.Q4_K).dequantize(b, 0, v, 0, 256);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int byteI = c * 32 + l;
                int j0 = 2 * c, j1 = 2 * c + 1;
                assertThat(v[c * 64 + l]).isEqualTo(2f * sc[j0] * (byteI % 16) - 0.5f * mn[j0]);
                assertThat(v[c * 64 + 32 + l]).isEqualTo(2f * sc[j1] * ((byteI * 7) % 16) - 0.5f * mn[j1]);
            }
        }
    }

    @Test
    void q6_KLayout() {
        MemorySegment b = bytes(210);
        for (int i = 0; i < 128; i++) b.set(ValueLayout.JAVA_BYTE, i, (byte) 0x21);       // low nibble 1, high nibble 2
        for (int i = 0; i < 64; i++) b.set(ValueLayout.JAVA_BYTE, 128 + i, (byte) 0b11_10_01_00);
        for (int j = 0; j < 16; j++) b.set(ValueLayout.JAVA_BYTE, 192 + j, (byte) (j - 8));
        half(b, 208, 0.125f);
        float[] v = new float[256];
        BlockFormats.of(DType.Q6_K).dequantize(b, 0, v, 0, 256);
        // within each 128: values 0-31 low nibble + high bits 0-1, 32-63 low + bits 2-3, 64-95 high nibble + bits 4-5, 96-127 high + bits 6-7
        int[] q = {1 | (0 << 4), 1 | (1 << 4), 2 | (2 << 4), 2 | (3 << 4)};
        for (int i = 0; i < 256; i++) {
            int quarter = (i % 128) / 32;
            assertThat(v[i]).as("value %d", i).isEqualTo(0.125f * ((i / 16) - 8) * (q[quarter] - 32));
        }
    }

    /** dot(w, quantized x) equals the double-precision dot of the decoded weights and decoded activations. */
    @Test
    void dotsMatchDecodedValues() {
        SplittableRandom r = new SplittableRandom(12);
        for (DType t : ALL) {
            BlockFormat f = BlockFormats.of(t);
            int cols = 512, rows = 3;
            MemorySegment w = bytes((int) t.bytesFor((long) rows * cols));
            for (long i = 0; i < w.byteSize(); i++) w.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(256));
            // sane fp16 scales: overwrite every scale position by re-encoding random floats where the format can
            if (BlockFormats.canQuantize(t)) {
                float[] row = new float[cols];
                for (int k = 0; k < rows; k++) {
                    for (int i = 0; i < cols; i++) row[i] = (float) r.nextGaussian();
                    f.quantize(row, 0, cols, w, k * t.bytesFor(cols));
                }
            } else {
                fixKScales(t, w, rows * cols / 256, r);
            }
            float[] x = new float[2 * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            QuantizedActs a = new QuantizedActs().ensure(f.actFormat(), 2, cols);
            ActQuant.quantizeRow(x, 0, a, 0);
            ActQuant.quantizeRow(x, cols, a, 1);
            float[] got = new float[rows];
            for (int tk = 0; tk < 2; tk++) {
                f.dotRows(w, 0, t.bytesFor(cols), cols, a, tk, 0, rows, got, 0);
                for (int k = 0; k < rows; k++) {
                    float[] wv = new float[cols];
                    f.dequantize(w, k * t.bytesFor(cols), wv, 0, cols);
                    double want = 0, mag = 0;
                    int bs = a.format.blockSize();
                    for (int i = 0; i < cols; i++) {
                        double av = (double) a.d[tk * cols / bs + i / bs] * a.qs[tk * cols + i];
                        want += wv[i] * av;
                        mag += Math.abs(wv[i] * av);
                    }
                    if (a.format == ActFormat.Q8_1) {
                        // Q8_1 carries the block sum as fp16(d * sum q): the min term uses that rounded value
                        want = 0;
                        mag = 0;
                        float[] m = new float[cols / 32];
                        for (int b = 0; b < cols / 32; b++) m[b] = Float.float16ToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, k * t.bytesFor(cols) + (long) b * t.blockBytes() + 2));
                        for (int i = 0; i < cols; i++) {
                            double av = (double) a.d[tk * cols / 32 + i / 32] * a.qs[tk * cols + i];
                            want += (wv[i] - m[i / 32]) * av;
                            mag += Math.abs(wv[i] * av);
                        }
                        for (int b = 0; b < cols / 32; b++) want += m[b] * a.s[tk * cols / 32 + b];
                    }
                    // integer sums are exact; float rounding of scale products and block sums: ~1e-6 of the magnitude
                    assertThat((double) got[k]).as("%s row %d token %d", t, k, tk).isCloseTo(want, within(2e-6 * mag + 1e-6));
                }
                // batch invariance: rows one at a time give the same bits
                for (int k = 0; k < rows; k++) {
                    float[] one = new float[1];
                    f.dotRows(w, 0, t.bytesFor(cols), cols, a, tk, k, k + 1, one, 0);
                    assertThat(Float.floatToRawIntBits(one[0])).isEqualTo(Float.floatToRawIntBits(got[k]));
                }
            }
        }
    }

    /** Random bytes for {@code blocks} super-blocks at {@code off}, with sane fp16 super-block scales. */
    static void randomBlocks(DType t, MemorySegment w, long off, int blocks, SplittableRandom r) {
        long n = (long) blocks * t.blockBytes();
        for (long i = 0; i < n; i++) w.set(ValueLayout.JAVA_BYTE, off + i, (byte) r.nextInt(256));
        fixKScales(t, w.asSlice(off, n), blocks, r);
    }

    /** Random bytes make absurd fp16 super-block scales; set d/dmin to small normal values. */
    static void fixKScales(DType t, MemorySegment w, int blocks, SplittableRandom r) {
        for (int b = 0; b < blocks; b++) {
            long bo = (long) b * t.blockBytes();
            if (t == DType.Q6_K || t == DType.Q3_K) {
                half(w, bo + (t == DType.Q6_K ? 208 : 108), (float) (0.01 + 0.01 * r.nextDouble()));
            } else if (t == DType.Q2_K) {
                half(w, bo + 80, (float) (0.01 + 0.01 * r.nextDouble()));
                half(w, bo + 82, (float) (0.01 * r.nextDouble()));
            } else {
                half(w, bo, (float) (0.01 + 0.01 * r.nextDouble()));
                half(w, bo + 2, (float) (0.01 * r.nextDouble()));
            }
        }
    }

    @Test
    void roundTripErrorWithinHalfAStep() {
        SplittableRandom r = new SplittableRandom(13);
        for (DType t : new DType[]{DType.Q8_0, DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1}) {
            BlockFormat f = BlockFormats.of(t);
            float[] x = new float[256];
            for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * 3);
            MemorySegment s = bytes((int) t.bytesFor(256));
            f.quantize(x, 0, 256, s, 0);
            float[] y = new float[256];
            f.dequantize(s, 0, y, 0, 256);

            for (int b = 0; b < 8; b++) {
                float lo = Float.MAX_VALUE, hi = -Float.MAX_VALUE;
                for (int i = 0; i < 32; i++) { lo = Math.min(lo, x[b * 32 + i]); hi = Math.max(hi, x[b * 32 + i]); }
                float amax = Math.max(Math.abs(lo), Math.abs(hi));
                // Q8_0: step amax/127, error <= step/2. Q4_1/Q5_1: step (max-min)/15 or /31, error <= step/2.
                // Q4_0/Q5_0: d = m/-8 (m/-16) puts the extreme value m exactly on the lowest level; the opposite
                // side has one level fewer, so values there can be up to one step off (clamped). Plus fp16
                // rounding of the scales (relative 2^-11 of the largest value).
                double bound = switch (t) {
                    case Q8_0 -> amax / 127 / 2;
                    case Q4_1 -> (hi - lo) / 15 / 2;
                    case Q5_1 -> (hi - lo) / 31 / 2;
                    case Q4_0 -> amax / 8;
                    default -> amax / 16;
                };
                for (int i = 0; i < 32; i++) {
                    assertThat((double) Math.abs(y[b * 32 + i] - x[b * 32 + i])).as("%s", t).isLessThanOrEqualTo(bound * 1.01 + amax * 1e-3 + 1e-6);
                }
            }
        }
    }

    @Test
    void badLengthsAndUnwritableFormats() {
        for (DType t : ALL) {
            assertThatThrownBy(() -> BlockFormats.of(t).dequantize(bytes(1024), 0, new float[1024], 0, t.blockSize() + 1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiple of the block size");
            BlockFormat f = BlockFormats.of(t);
            QuantizedActs a = new QuantizedActs().ensure(f.actFormat(), 1, 256);
            assertThatThrownBy(() -> f.dotRows(bytes(1024), 0, 512, t.blockSize() + 1, a, 0, 0, 1, new float[1], 0))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiple of the block size");
            if (BlockFormats.canQuantize(t)) {
                assertThatThrownBy(() -> f.quantize(new float[1024], 0, t.blockSize() + 1, bytes(1024), 0))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiple of the block size");
            }
        }
        assertThatThrownBy(() -> new QuantizedActs().ensure(ActFormat.Q8_K, 1, 100))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a multiple of Q8_K's block size 256");
        assertThatThrownBy(() -> BlockFormats.of(DType.Q2_K).quantize(new float[256], 0, 256, bytes(84), 0))
                .isInstanceOf(UnsupportedOperationException.class);
    }

    /** Q4_K, Q5_K and Q6_K files come out byte for byte as llama.cpp's reference quantizer writes them. */
    @Test
    void kQuantsMatchLlamaCppBytes() throws Exception {
        float[] x = new float[4 * 256];
        for (int i = 0; i < x.length; i++) x[i] = (float) ((i * 7919) % 2001 - 1000) / 137f;
        for (int i = 0; i < 256; i++) x[3 * 256 + i] *= (i % 32 == 0) ? 40f : 0.01f;
        try (var in = getClass().getResourceAsStream("llama-cpp-kquants.txt")) {
            for (String line : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).split("\n")) {
                if (line.startsWith("#") || line.isBlank()) continue;
                String[] parts = line.trim().split(" ");
                DType t = DType.valueOf(parts[0]);
                MemorySegment out = bytes((int) t.bytesFor(x.length));
                for (int r = 0; r < 4; r++) BlockFormats.of(t).quantize(x, r * 256, 256, out, r * t.bytesFor(256));
                StringBuilder hex = new StringBuilder();
                for (long i = 0; i < out.byteSize(); i++) hex.append(String.format("%02x", out.get(ValueLayout.JAVA_BYTE, i) & 0xff));
                assertThat(hex.toString()).as(t.toString()).isEqualTo(parts[1]);
            }
        }
    }

    @Test
    void kQuantRoundTripIsClose() {
        SplittableRandom r = new SplittableRandom(14);
        for (DType t : new DType[]{DType.Q4_K, DType.Q5_K, DType.Q6_K}) {
            float[] x = new float[1024];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            MemorySegment s = bytes((int) t.bytesFor(x.length));
            BlockFormats.of(t).quantize(x, 0, x.length, s, 0);
            float[] y = new float[x.length];
            BlockFormats.of(t).dequantize(s, 0, y, 0, x.length);
            double err = 0, norm = 0;
            for (int i = 0; i < x.length; i++) { err += (x[i] - y[i]) * (x[i] - y[i]); norm += x[i] * x[i]; }
            // relative RMS error of a 4-, 5-, 6-bit grid on Gaussian data: ~9%, ~4.5%, ~2.5%
            assertThat(Math.sqrt(err / norm)).as("%s", t).isLessThan(t == DType.Q4_K ? 0.12 : t == DType.Q5_K ? 0.06 : 0.035);
        }
    }
}
