package org.jmoe.model;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** The attention core's weighted sum of value rows is the row-by-row axpy onto zeros, bit for bit. */
class OpsTest {
    @Test
    void weightedRowsHaveTheBitsOfAxpyRowByRow() {
        SplittableRandom r = new SplittableRandom(11);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + r.nextInt(140), rows = 1 + r.nextInt(40), stride = n + r.nextInt(50), xo = r.nextInt(20), yo = r.nextInt(20), wo = r.nextInt(10);
            float[] x = new float[xo + rows * stride + n], w = new float[wo + rows];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int i = 0; i < w.length; i++) w[i] = (float) r.nextDouble();
            float scale = (float) (1 / (1 + r.nextDouble()));
            // rows at listed offsets, in another order in x than they are summed
            int[] off = new int[3 + rows];
            for (int j = 0; j < rows; j++) off[3 + j] = xo + (rows - 1 - j) * stride;
            float[] want = new float[yo + n + 5];
            Arrays.fill(want, 7f);
            Arrays.fill(want, yo, yo + n, 0f);
            for (int j = 0; j < rows; j++) Ops.axpy(want, yo, x, off[3 + j], w[wo + j] * scale, n);
            float[] got = new float[want.length];
            Arrays.fill(got, 7f);
            Ops.weightedRowsAt(got, yo, x, off, 3, w, wo, scale, rows, n);
            assertThat(got).as("trial %d (n %d, rows %d)", trial, n, rows).containsExactly(want);
        }
    }
}
