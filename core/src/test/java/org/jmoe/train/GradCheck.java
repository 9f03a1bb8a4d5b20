package org.jmoe.train;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Central finite differences {@code (L(θ+h) − L(θ−h)) / 2h} against an analytic gradient.
 *
 * <p>Tolerance: the layers compute in float32, so a loss of ~10² terms of size ~1, summed in double from float
 * outputs, carries a rounding error of about 1e-5 absolute; divided by 2h = 2e-2 that is ~5e-4 of noise in the
 * numeric derivative. The truncation error of the central difference is O(h²·L''') ≈ 1e-4 relative for these smooth
 * functions. Hence {@code |analytic − numeric| ≤ 3e-3 + 2e-2·|numeric|}: a wrong term (a missing factor, a sign, a
 * forgotten path) is off by O(|g|) and fails by orders of magnitude.
 */
final class GradCheck {
    static final double H = 1e-2;

    private GradCheck() {}

    static float[] random(SplittableRandom r, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * std);
        return a;
    }

    /** Σ r_i y_i in double: the scalar loss whose gradient with respect to y is r. */
    static double project(float[] y, float[] r, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += (double) y[i] * r[i];
        return s;
    }

    static double numeric(float[] v, int i, DoubleSupplier loss) {
        float old = v[i];
        v[i] = (float) (old + H);
        double plus = loss.getAsDouble();
        v[i] = (float) (old - H);
        double minus = loss.getAsDouble();
        v[i] = old;
        return (plus - minus) / (2 * H);
    }

    /** Checks every index of v (or {@code samples} random ones when samples > 0). */
    static void check(String what, float[] v, float[] analytic, DoubleSupplier loss, int samples, SplittableRandom r) {
        int n = samples > 0 ? samples : v.length;
        for (int s = 0; s < n; s++) {
            int i = samples > 0 ? r.nextInt(v.length) : s;
            check(what + "[" + i + "]", analytic[i], numeric(v, i, loss));
        }
    }

    static void check(String what, double analytic, double numeric) {
        assertThat(Math.abs(analytic - numeric)).as("%s: analytic %s vs numeric %s", what, analytic, numeric)
                .isLessThanOrEqualTo(3e-3 + 2e-2 * Math.abs(numeric));
    }
}
