package org.jmoe.tensor.quant;

import org.jmoe.tensor.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.jmoe.tensor.quant.BlockFormatTest.bytes;
import static org.jmoe.tensor.quant.BlockFormatTest.half;

/**
 * Block layouts not covered by {@link BlockFormatTest}, each built byte by byte from the format definition,
 * and the activation quantizers against values worked out by hand. Scales are powers of two or small
 * multiples of them, so every expected value below is exact and compared with equality.
 */
class QuantLayoutTest {
    private static void set(MemorySegment s, long off, int v) {
        s.set(ValueLayout.JAVA_BYTE, off, (byte) v);
    }

    @Test
    void q8_0Layout() {
        MemorySegment b = bytes(34);
        half(b, 0, 0.5f);
        for (int i = 0; i < 32; i++) set(b, 2 + i, i * 8 - 128);   // int8 -128, -120, .., 120
        float[] v = new float[32];
        BlockFormats.of(DType.Q8_0).dequantize(b, 0, v, 0, 32);
        for (int i = 0; i < 32; i++) assertThat(v[i]).isEqualTo(0.5f * (i * 8 - 128));
    }

    @Test
    void q4_0Layout() {
        MemorySegment b = bytes(18);
        half(b, 0, -0.25f);
        for (int j = 0; j < 16; j++) set(b, 2 + j, j | ((15 - j) << 4));   // value j: nibble j, value j+16: 15-j
        float[] v = new float[32];
        BlockFormats.of(DType.Q4_0).dequantize(b, 0, v, 0, 32);
        for (int j = 0; j < 16; j++) {
            assertThat(v[j]).isEqualTo(-0.25f * (j - 8));
            assertThat(v[j + 16]).isEqualTo(-0.25f * (15 - j - 8));
        }
    }

    @Test
    void q5_1Layout() {
        MemorySegment b = bytes(24);
        half(b, 0, 0.125f);
        half(b, 2, 2f);
        b.set(ValueLayout.JAVA_INT_UNALIGNED, 4, 0x8000_0001);          // high bits of values 0 and 31
        for (int j = 0; j < 16; j++) set(b, 8 + j, (j + 1) % 16 | (j << 4));
        float[] v = new float[32];
        BlockFormats.of(DType.Q5_1).dequantize(b, 0, v, 0, 32);
        for (int j = 0; j < 16; j++) {
            int lo = (j + 1) % 16 + (j == 0 ? 16 : 0), hi = j + (j == 15 ? 16 : 0);
            assertThat(v[j]).isEqualTo(0.125f * lo + 2f);
            assertThat(v[j + 16]).isEqualTo(0.125f * hi + 2f);
        }
    }

    @Test
    void q5_KLayout() {
        MemorySegment b = bytes(176);
        half(b, 0, 1f);
        half(b, 2, 0.25f);
        // all 8 sub-block scales 3 and mins 5 (j < 4: bytes j and j+4; j >= 4: low/high nibbles of bytes j+4)
        for (int j = 0; j < 4; j++) {
            set(b, 4 + j, 3);
            set(b, 8 + j, 5);
            set(b, 12 + j, 3 | (5 << 4));
        }
        for (int l = 0; l < 32; l++) set(b, 16 + l, l % 2 == 0 ? 0b0101_0101 : 0b1010_1010);   // qh
        for (int i = 0; i < 128; i++) set(b, 48 + i, 7 | (9 << 4));
        float[] v = new float[256];
        BlockFormats.of(DType.Q5_K).dequantize(b, 0, v, 0, 256);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int h = l % 2 == 0 ? 0b0101_0101 : 0b1010_1010;
                int lo = 7 | (((h >>> (2 * c)) & 1) << 4), hi = 9 | (((h >>> (2 * c + 1)) & 1) << 4);
                assertThat(v[c * 64 + l]).isEqualTo(3f * lo - 0.25f * 5);
                assertThat(v[c * 64 + 32 + l]).isEqualTo(3f * hi - 0.25f * 5);
            }
        }
    }

    @Test
    void q2_KLayout() {
        MemorySegment b = bytes(84);
        for (int j = 0; j < 16; j++) set(b, j, (j % 16) | ((15 - j) << 4));   // scale j, min 15-j
        for (int l = 0; l < 64; l++) set(b, 16 + l, 0b11_10_01_00 ^ (l & 3));
        half(b, 80, 0.5f);
        half(b, 82, 0.125f);
        float[] v = new float[256];
        BlockFormats.of(DType.Q2_K).dequantize(b, 0, v, 0, 256);
        for (int i = 0; i < 256; i++) {
            int n = i / 128, j = (i % 128) / 32, l = i % 32;
            int q = ((0b11_10_01_00 ^ ((32 * n + l) & 3)) >>> (2 * j)) & 3;
            int sub = i / 16;
            assertThat(v[i]).as("value %d", i).isEqualTo(0.5f * sub * q - 0.125f * (15 - sub));
        }
    }

    @Test
    void q3_KLayout() {
        MemorySegment b = bytes(110);
        SplittableRandom r = new SplittableRandom(3);
        int[] hm = new int[32], qs = new int[64], sc = new int[16];
        for (int i = 0; i < 32; i++) set(b, i, hm[i] = r.nextInt(256));
        for (int i = 0; i < 64; i++) set(b, 32 + i, qs[i] = r.nextInt(256));
        for (int j = 0; j < 16; j++) sc[j] = r.nextInt(64);               // 6-bit scales, stored + 32
        for (int k = 0; k < 8; k++) set(b, 96 + k, (sc[k] & 15) | ((sc[k + 8] & 15) << 4));
        for (int k = 0; k < 4; k++) {
            set(b, 104 + k, (sc[k] >> 4) | ((sc[k + 4] >> 4) << 2) | ((sc[k + 8] >> 4) << 4) | ((sc[k + 12] >> 4) << 6));
        }
        half(b, 108, 0.25f);
        float[] v = new float[256];
        BlockFormats.of(DType.Q3_K).dequantize(b, 0, v, 0, 256);
        for (int i = 0; i < 256; i++) {
            int n = i / 128, j = (i % 128) / 32, l = i % 32;
            int low = (qs[32 * n + l] >>> (2 * j)) & 3;
            boolean high = ((hm[l] >>> (4 * n + j)) & 1) != 0;
            int q = low - (high ? 0 : 4);
            assertThat(v[i]).as("value %d", i).isEqualTo(0.25f * (sc[i / 16] - 32) * q);
        }
    }

    /** Q8_0 activations as llama.cpp's AVX2 path: q = x·(127/amax) rounded half to even, d = fp16(amax/127). */
    @Test
    void q8_0Activations() {
        float[] x = new float[32];
        x[0] = 127f;      // amax 127: 127/amax = 1, so q = x exactly where x is an integer
        x[1] = 2.5f;      // tie: half to even gives 2 (roundf would give 3)
        x[2] = -3.5f;     // tie: -4
        x[3] = 0.49f;
        x[4] = -127f;
        QuantizedActs a = new QuantizedActs().ensure(ActFormat.Q8_0, 1, 32);
        ActQuant.quantizeRow(x, 0, a, 0);
        assertThat(a.d[0]).isEqualTo(1f);
        assertThat(new int[]{a.qs[0], a.qs[1], a.qs[2], a.qs[3], a.qs[4], a.qs[5]}).containsExactly(127, 2, -4, 0, -127, 0);
        for (int i = 0; i < 32; i++) assertThat(a.qf[i]).isEqualTo(a.qs[i]);
    }

    /** Q8_1 adds s = fp16(d·Σq) with d the unrounded amax/127. */
    @Test
    void q8_1Activations() {
        float[] x = new float[64];
        for (int i = 0; i < 32; i++) x[i] = i - 10;   // amax 21
        QuantizedActs a = new QuantizedActs().ensure(ActFormat.Q8_1, 1, 64);
        ActQuant.quantizeRow(x, 0, a, 0);
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            int want = (int) Math.rint((i - 10) * (127f / 21f));
            assertThat((int) a.qs[i]).isEqualTo(want);
            sum += want;
        }
        assertThat(a.d[0]).isEqualTo(Float.float16ToFloat(Float.floatToFloat16(21f / 127f)));
        assertThat(a.s[0]).isEqualTo(Float.float16ToFloat(Float.floatToFloat16(21f / 127f * sum)));
        assertThat(a.d[1]).isZero();   // an all-zero block
        assertThat(a.s[1]).isZero();
    }

    /** Q8_K: iscale = −127/max (max signed), q = min(127, nearest(iscale·x)), d = 1/iscale, bsums of 16. */
    @Test
    void q8_KActivations() {
        float[] x = new float[256];
        for (int i = 0; i < 256; i++) x[i] = (i % 7) - 3;
        x[100] = -12.7f;  // the largest magnitude, negative: iscale = 10, so q = 10·x (−127 at 100, +127 impossible)
        QuantizedActs a = new QuantizedActs().ensure(ActFormat.Q8_K, 1, 256);
        ActQuant.quantizeRow(x, 0, a, 0);
        float iscale = -127f / -12.7f;
        assertThat(a.d[0]).isEqualTo(1f / iscale);
        for (int i = 0; i < 256; i++) assertThat((int) a.qs[i]).isEqualTo(Math.min(127, (int) Math.rint(iscale * x[i])));
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += a.qs[16 * j + i];
            assertThat((int) a.bsums[j]).isEqualTo(s);
        }
    }

    /** The Q8_0 writer rounds as C's roundf: halfway cases away from zero. */
    @Test
    void q8_0WriterRoundsHalfAwayFromZero() {
        float[] x = new float[32];
        x[0] = 127f;      // d = 1, 1/d = 1
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = -0.5f;
        MemorySegment b = bytes(34);
        BlockFormats.of(DType.Q8_0).quantize(x, 0, 32, b, 0);
        assertThat(new int[]{b.get(ValueLayout.JAVA_BYTE, 3), b.get(ValueLayout.JAVA_BYTE, 4), b.get(ValueLayout.JAVA_BYTE, 5)})
                .containsExactly(3, -3, -1);
    }

    /** dotTokens (one weight row, several tokens) gives the same bits as dotRows, token by token. */
    @Test
    void dotTokensMatchesDotRows() {
        SplittableRandom r = new SplittableRandom(7);
        int cols = 256, nt = 6;
        for (DType t : BlockFormatTest.ALL) {
            BlockFormat f = BlockFormats.of(t);
            MemorySegment w = bytes((int) t.bytesFor(2L * cols));
            BlockFormatTest.randomBlocks(t, w, 0, 2 * cols / 256, r);
            if (t.blockSize() == 32) {   // small-block formats: sane fp16 scales via the writer
                float[] row = new float[2 * cols];
                for (int i = 0; i < row.length; i++) row[i] = (float) r.nextGaussian();
                f.quantize(row, 0, row.length, w, 0);
            }
            float[] x = new float[nt * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            QuantizedActs a = new QuantizedActs().ensure(f.actFormat(), nt, cols);
            for (int k = 0; k < nt; k++) ActQuant.quantizeRow(x, k * cols, a, k);
            float[] byTokens = new float[nt], byRows = new float[1];
            f.dotTokens(w, 0, t.bytesFor(cols), cols, a, 0, nt, 1, byTokens, 0, 1);
            for (int k = 0; k < nt; k++) {
                f.dotRows(w, 0, t.bytesFor(cols), cols, a, k, 1, 2, byRows, 0);
                assertThat(Float.floatToRawIntBits(byTokens[k])).as("%s token %d", t, k).isEqualTo(Float.floatToRawIntBits(byRows[0]));
            }
        }
    }
}
