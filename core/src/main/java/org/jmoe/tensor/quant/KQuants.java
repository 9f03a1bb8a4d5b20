package org.jmoe.tensor.quant;

import org.jmoe.tensor.DType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * llama.cpp's K-quants over super-blocks of 256 values, dequantized and dotted with Q8_K activations in
 * llama.cpp's integer form:
 * <ul>
 *   <li>Q4_K (144 bytes): fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins for 8 sub-blocks of 32, 128 bytes
 *       of nibbles (each 64 values: 32 low nibbles, then 32 high); value = d·sc_j·q − dmin·m_j.</li>
 *   <li>Q5_K (176 bytes): as Q4_K plus 32 bytes of high bits (bit 2i / 2i+1 of qh[l] for the i-th 64).</li>
 *   <li>Q6_K (210 bytes): 128 bytes low nibbles, 64 bytes of 2-bit highs, 16 int8 scales (sub-blocks of 16),
 *       fp16 d; value = d·sc_j·(q − 32).</li>
 *   <li>Q2_K (84 bytes): 16 bytes of 4-bit scale (low) / min (high) for 16 sub-blocks of 16, 64 bytes of
 *       2-bit quants, fp16 d, fp16 dmin. Value i (n = i/128, j = i%128/32, l = i%32) is bits 2j..2j+1 of
 *       qs[32n + l]; value = d·sc·q − dmin·m. Read and dotted only.</li>
 *   <li>Q3_K (110 bytes): 32 bytes hmask, 64 bytes of 2-bit low quants (as Q2_K), 12 bytes of 6-bit scales,
 *       fp16 d. High bit of value i is bit 4n + j of hmask[l]; q = low − (high ? 0 : 4) in −4..3; scale s has
 *       its low 4 bits in byte s%8 (low nibble for s < 8, high otherwise) and bits 4..5 at bits 2(s/4) of
 *       byte 8 + s%4, stored + 32; value = d·(sc − 32)·q. Read and dotted only.</li>
 * </ul>
 * Dot per super-block: {@code d_w·d_a·Σ_j sc_j·Σ q·a − dmin_w·d_a·Σ_j m_j·bsum_j}, integer sums exact.
 * They are written by {@link KQuantizer} (llama.cpp's reference search).
 */
final class KQuants implements BlockFormat {
    private final DType type;

    KQuants(DType type) {
        this.type = type;
    }

    @Override
    public DType type() { return type; }

    @Override
    public ActFormat actFormat() { return ActFormat.Q8_K; }

    /** 6-bit scale (m = false) or min (m = true) of sub-block j from the 12 packed bytes at {@code so}. */
    private static int scaleMin(MemorySegment s, long so, int j, boolean min) {
        if (j < 4) return (s.get(ValueLayout.JAVA_BYTE, so + j + (min ? 4 : 0)) & 63);
        int hi = s.get(ValueLayout.JAVA_BYTE, so + j - (min ? 0 : 4)) & 0xff;
        int lo = s.get(ValueLayout.JAVA_BYTE, so + j + 4) & 0xff;
        return (min ? lo >>> 4 : lo & 0xF) | ((hi >>> 6) << 4);
    }

    /**
     * Unpacks super-block {@code bo}: q[256] (Q6_K centred: q − 32), per-sub-block scales and mins (Q6_K:
     * 16 sub-blocks of 16, mins 0); returns {d, dmin}.
     */
    private float[] unpack(MemorySegment s, long bo, int[] q, int[] sc, int[] mn) {
        switch (type) {
            case Q4_K, Q5_K -> {
                long so = bo + 4, qh = bo + 16, qs = type == DType.Q5_K ? bo + 48 : bo + 16;
                for (int j = 0; j < 8; j++) {
                    sc[j] = scaleMin(s, so, j, false);
                    mn[j] = scaleMin(s, so, j, true);
                }
                for (int c = 0; c < 4; c++) {               // four chunks of 64 values
                    for (int l = 0; l < 32; l++) {
                        int v = s.get(ValueLayout.JAVA_BYTE, qs + c * 32 + l) & 0xff;
                        int lo = v & 0xF, hi = v >>> 4;
                        if (type == DType.Q5_K) {
                            int h = s.get(ValueLayout.JAVA_BYTE, qh + l) & 0xff;
                            lo |= ((h >>> (2 * c)) & 1) << 4;
                            hi |= ((h >>> (2 * c + 1)) & 1) << 4;
                        }
                        q[c * 64 + l] = lo;
                        q[c * 64 + 32 + l] = hi;
                    }
                }
                return new float[]{Q8_0.half(s, bo), Q8_0.half(s, bo + 2)};
            }
            case Q6_K -> {
                long ql = bo, qh = bo + 128, scs = bo + 192;
                for (int j = 0; j < 16; j++) {
                    sc[j] = s.get(ValueLayout.JAVA_BYTE, scs + j);
                    mn[j] = 0;
                }
                for (int n = 0; n < 2; n++) {               // two halves of 128 values
                    for (int l = 0; l < 32; l++) {
                        int a = s.get(ValueLayout.JAVA_BYTE, ql + n * 64 + l) & 0xff;
                        int b = s.get(ValueLayout.JAVA_BYTE, ql + n * 64 + 32 + l) & 0xff;
                        int h = s.get(ValueLayout.JAVA_BYTE, qh + n * 32 + l) & 0xff;
                        int base = n * 128;
                        q[base + l] = ((a & 0xF) | ((h & 3) << 4)) - 32;
                        q[base + 32 + l] = ((b & 0xF) | (((h >>> 2) & 3) << 4)) - 32;
                        q[base + 64 + l] = ((a >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
                        q[base + 96 + l] = ((b >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
                    }
                }
                return new float[]{Q8_0.half(s, bo + 208), 0f};
            }
            case Q2_K -> {
                long scs = bo, qs = bo + 16;
                for (int j = 0; j < 16; j++) {
                    int v = s.get(ValueLayout.JAVA_BYTE, scs + j) & 0xff;
                    sc[j] = v & 0xF;
                    mn[j] = v >>> 4;
                }
                for (int i = 0; i < 256; i++) {
                    int n = i / 128, j = (i % 128) / 32, l = i % 32;
                    q[i] = ((s.get(ValueLayout.JAVA_BYTE, qs + 32 * n + l) & 0xff) >>> (2 * j)) & 3;
                }
                return new float[]{Q8_0.half(s, bo + 80), Q8_0.half(s, bo + 82)};
            }
            case Q3_K -> {
                long hm = bo, qs = bo + 32, scs = bo + 96;
                for (int j = 0; j < 16; j++) {
                    int lo = s.get(ValueLayout.JAVA_BYTE, scs + j % 8) & 0xff;
                    int lo4 = j < 8 ? lo & 0xF : lo >>> 4;
                    int hi2 = ((s.get(ValueLayout.JAVA_BYTE, scs + 8 + j % 4) & 0xff) >>> (2 * (j / 4))) & 3;
                    sc[j] = (lo4 | (hi2 << 4)) - 32;
                    mn[j] = 0;
                }
                for (int i = 0; i < 256; i++) {
                    int n = i / 128, j = (i % 128) / 32, l = i % 32;
                    int low = ((s.get(ValueLayout.JAVA_BYTE, qs + 32 * n + l) & 0xff) >>> (2 * j)) & 3;
                    int high = ((s.get(ValueLayout.JAVA_BYTE, hm + l) & 0xff) >>> (4 * n + j)) & 1;
                    q[i] = low - (high != 0 ? 0 : 4);
                }
                return new float[]{Q8_0.half(s, bo + 108), 0f};
            }
            default -> throw new IllegalStateException(type.toString());
        }
    }

    private int subBlock() { return type == DType.Q4_K || type == DType.Q5_K ? 32 : 16; }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        Q8_0.checkLength(n, 256);
        int[] q = new int[256], sc = new int[16], mn = new int[16];
        int sb = subBlock();
        for (int b = 0; b < n / 256; b++) {
            float[] dm = unpack(src, offset + (long) b * type.blockBytes(), q, sc, mn);
            for (int i = 0; i < 256; i++) {
                int j = i / sb;
                dst[dstOff + b * 256 + i] = dm[0] * sc[j] * q[i] - dm[1] * mn[j];
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        Q8_0.checkLength(n, 256);
        switch (type) {
            case Q4_K -> KQuantizer.quantizeQ4K(src, srcOff, n, dst, offset);
            case Q5_K -> KQuantizer.quantizeQ5K(src, srcOff, n, dst, offset);
            case Q6_K -> KQuantizer.quantizeQ6K(src, srcOff, n, dst, offset);
            default -> throw new UnsupportedOperationException("writing " + type + " is not supported");
        }
    }

    @Override
    public void dotRows(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t,
                        int r0, int r1, float[] out, int outOff) {
        Q8_0.checkLength(cols, 256);
        if (type == DType.Q4_K) {
            for (int r = r0; r < r1; r++) out[outOff + r - r0] = dotQ4K(w, wOffset + r * rowBytes, cols, acts, t);
            return;
        }
        if (type == DType.Q6_K) {
            for (int r = r0; r < r1; r++) out[outOff + r - r0] = dotQ6K(w, wOffset + r * rowBytes, cols, acts, t);
            return;
        }
        dotRowsScalar(w, wOffset, rowBytes, cols, acts, t, r0, r1, out, outOff);
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> F = jdk.incubator.vector.FloatVector.SPECIES_256;
    private static final jdk.incubator.vector.VectorSpecies<Integer> I = jdk.incubator.vector.IntVector.SPECIES_256;
    private static final jdk.incubator.vector.VectorSpecies<Byte> B64 = jdk.incubator.vector.ByteVector.SPECIES_64;

    private static jdk.incubator.vector.IntVector bytes8(MemorySegment w, long off) {
        return (jdk.incubator.vector.IntVector) jdk.incubator.vector.ByteVector.fromMemorySegment(B64, w, off, java.nio.ByteOrder.LITTLE_ENDIAN)
                .convertShape(jdk.incubator.vector.VectorOperators.B2I, I, 0);
    }

    private static jdk.incubator.vector.FloatVector f(jdk.incubator.vector.IntVector v) {
        return (jdk.incubator.vector.FloatVector) v.convertShape(jdk.incubator.vector.VectorOperators.I2F, F, 0);
    }

    /**
     * Q4_K row · Q8_K activations in float lanes: per sub-block the products of integers are summed exactly,
     * scaled by the sub-block's integer scale, then each super-block adds d·d_a·Σ − dmin·d_a·Σ m·bsum.
     */
    private static float dotQ4K(MemorySegment w, long ro, int cols, QuantizedActs acts, int t) {
        int nb = cols / 256;
        float[] qf = acts.qf;
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = ro + (long) b * 144;
            int ao = t * cols + b * 256;
            jdk.incubator.vector.FloatVector isum = jdk.incubator.vector.FloatVector.zero(F);
            long msum = 0;
            for (int c = 0; c < 4; c++) {
                jdk.incubator.vector.FloatVector lo = jdk.incubator.vector.FloatVector.zero(F), hi = lo;
                for (int g = 0; g < 4; g++) {
                    jdk.incubator.vector.IntVector v = bytes8(w, bo + 16 + c * 32 + g * 8);
                    lo = f(v.and(15)).fma(jdk.incubator.vector.FloatVector.fromArray(F, qf, ao + c * 64 + g * 8), lo);
                    hi = f(v.lanewise(jdk.incubator.vector.VectorOperators.LSHR, 4).and(15)).fma(jdk.incubator.vector.FloatVector.fromArray(F, qf, ao + c * 64 + 32 + g * 8), hi);
                }
                int j0 = 2 * c, j1 = 2 * c + 1;
                isum = lo.fma(jdk.incubator.vector.FloatVector.broadcast(F, scaleMin(w, bo + 4, j0, false)), isum);
                isum = hi.fma(jdk.incubator.vector.FloatVector.broadcast(F, scaleMin(w, bo + 4, j1, false)), isum);
                int bs = (ao >> 4) + 4 * c;
                msum += (long) scaleMin(w, bo + 4, j0, true) * (acts.bsums[bs] + acts.bsums[bs + 1])
                        + (long) scaleMin(w, bo + 4, j1, true) * (acts.bsums[bs + 2] + acts.bsums[bs + 3]);
            }
            float da = acts.d[t * nb + b];
            sum += Q8_0.half(w, bo) * da * org.jmoe.tensor.MatMul.sumLanes(isum) - Q8_0.half(w, bo + 2) * da * msum;
        }
        return sum;
    }

    /** Q6_K row · Q8_K activations in float lanes (sub-blocks of 16 share an int8 scale). */
    private static float dotQ6K(MemorySegment w, long ro, int cols, QuantizedActs acts, int t) {
        int nb = cols / 256;
        float[] qf = acts.qf;
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = ro + (long) b * 210;
            int ao = t * cols + b * 256;
            jdk.incubator.vector.FloatVector isum = jdk.incubator.vector.FloatVector.zero(F);
            for (int n = 0; n < 2; n++) {
                int base = ao + n * 128;
                long sc = bo + 192 + n * 8;
                for (int g = 0; g < 4; g++) {
                    jdk.incubator.vector.IntVector a = bytes8(w, bo + n * 64 + g * 8);
                    jdk.incubator.vector.IntVector c = bytes8(w, bo + n * 64 + 32 + g * 8);
                    jdk.incubator.vector.IntVector h = bytes8(w, bo + 128 + n * 32 + g * 8);
                    int k = g / 2;                          // which 16-value sub-block within each 32
                    jdk.incubator.vector.FloatVector q1 = f(a.and(15).or(h.and(3).lanewise(jdk.incubator.vector.VectorOperators.LSHL, 4)).sub(32));
                    jdk.incubator.vector.FloatVector q2 = f(c.and(15).or(h.lanewise(jdk.incubator.vector.VectorOperators.LSHR, 2).and(3).lanewise(jdk.incubator.vector.VectorOperators.LSHL, 4)).sub(32));
                    jdk.incubator.vector.FloatVector q3 = f(a.lanewise(jdk.incubator.vector.VectorOperators.LSHR, 4).and(15).or(h.lanewise(jdk.incubator.vector.VectorOperators.LSHR, 4).and(3).lanewise(jdk.incubator.vector.VectorOperators.LSHL, 4)).sub(32));
                    jdk.incubator.vector.FloatVector q4 = f(c.lanewise(jdk.incubator.vector.VectorOperators.LSHR, 4).and(15).or(h.lanewise(jdk.incubator.vector.VectorOperators.LSHR, 6).and(3).lanewise(jdk.incubator.vector.VectorOperators.LSHL, 4)).sub(32));
                    isum = q1.mul(jdk.incubator.vector.FloatVector.fromArray(F, qf, base + g * 8)).fma(jdk.incubator.vector.FloatVector.broadcast(F, w.get(ValueLayout.JAVA_BYTE, sc + k)), isum);
                    isum = q2.mul(jdk.incubator.vector.FloatVector.fromArray(F, qf, base + 32 + g * 8)).fma(jdk.incubator.vector.FloatVector.broadcast(F, w.get(ValueLayout.JAVA_BYTE, sc + 2 + k)), isum);
                    isum = q3.mul(jdk.incubator.vector.FloatVector.fromArray(F, qf, base + 64 + g * 8)).fma(jdk.incubator.vector.FloatVector.broadcast(F, w.get(ValueLayout.JAVA_BYTE, sc + 4 + k)), isum);
                    isum = q4.mul(jdk.incubator.vector.FloatVector.fromArray(F, qf, base + 96 + g * 8)).fma(jdk.incubator.vector.FloatVector.broadcast(F, w.get(ValueLayout.JAVA_BYTE, sc + 6 + k)), isum);
                }
            }
            sum += Q8_0.half(w, bo + 208) * acts.d[t * nb + b] * org.jmoe.tensor.MatMul.sumLanes(isum);
        }
        return sum;
    }

    private void dotRowsScalar(MemorySegment w, long wOffset, long rowBytes, int cols, QuantizedActs acts, int t,
                               int r0, int r1, float[] out, int outOff) {
        int nb = cols / 256, sb = subBlock();
        int[] q = new int[256], sc = new int[16], mn = new int[16];
        for (int r = r0; r < r1; r++) {
            long ro = wOffset + r * rowBytes;
            float sum = 0;
            for (int b = 0; b < nb; b++) {
                float[] dm = unpack(w, ro + (long) b * type.blockBytes(), q, sc, mn);
                int ao = t * cols + b * 256;
                long isum = 0, msum = 0;
                for (int j = 0; j < 256 / sb; j++) {
                    int s = 0;
                    for (int i = j * sb; i < (j + 1) * sb; i++) s += q[i] * acts.qs[ao + i];
                    isum += (long) sc[j] * s;
                    if (mn[j] != 0) {
                        int bs = 0;
                        for (int k = j * sb / 16; k < (j + 1) * sb / 16; k++) bs += acts.bsums[(ao >> 4) + k];
                        msum += (long) mn[j] * bs;
                    }
                }
                float da = acts.d[t * nb + b];
                sum += dm[0] * da * isum - dm[1] * da * msum;
            }
            out[outOff + r - r0] = sum;
        }
    }
}
