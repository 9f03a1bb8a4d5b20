package org.jmoe.moe;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The incomplete beta function against closed forms and published values; LocMoE's bound against geometry. */
class SpecialFunctionsTest {
    @Test
    void logGammaMatchesFactorialsAndHalfIntegers() {
        double f = 1;
        for (int n = 1; n < 30; n++) {
            assertThat(SpecialFunctions.logGamma(n)).isCloseTo(Math.log(f), within(1e-12 * Math.max(1, Math.log(f))));
            f *= n;
        }
        assertThat(SpecialFunctions.logGamma(0.5)).isCloseTo(0.5 * Math.log(Math.PI), within(1e-13)); // Γ(½) = √π
        assertThat(SpecialFunctions.logGamma(2.5)).isCloseTo(Math.log(0.75 * Math.sqrt(Math.PI)), within(1e-13));
    }

    @Test
    void incompleteBetaMatchesClosedForms() {
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < 2000; i++) {
            double x = r.nextDouble(), a = 0.1 + r.nextDouble() * 20, b = 0.1 + r.nextDouble() * 20;
            // I_x(a, 1) = x^a ; I_x(1, b) = 1 − (1−x)^b ; I_x(½, ½) = (2/π) asin √x ; symmetry I_x(a,b) = 1 − I_{1−x}(b,a)
            assertThat(SpecialFunctions.regularizedIncompleteBeta(x, a, 1)).isCloseTo(Math.pow(x, a), within(1e-12));
            assertThat(SpecialFunctions.regularizedIncompleteBeta(x, 1, b)).isCloseTo(1 - Math.pow(1 - x, b), within(1e-12));
            assertThat(SpecialFunctions.regularizedIncompleteBeta(x, 0.5, 0.5)).isCloseTo(2 / Math.PI * Math.asin(Math.sqrt(x)), within(1e-12));
            assertThat(SpecialFunctions.regularizedIncompleteBeta(x, a, b) + SpecialFunctions.regularizedIncompleteBeta(1 - x, b, a)).isCloseTo(1, within(1e-12));
            // I_{½}(a, a) = ½
            assertThat(SpecialFunctions.regularizedIncompleteBeta(0.5, a, a)).isCloseTo(0.5, within(1e-12));
        }
        // Integer parameters: I_x(a, b) = P(Binomial(a+b−1, x) >= a).
        for (int a = 1; a <= 8; a++) {
            for (int b = 1; b <= 8; b++) {
                double x = 0.37, p = 0;
                int n = a + b - 1;
                for (int j = a; j <= n; j++) p += binom(n, j) * Math.pow(x, j) * Math.pow(1 - x, n - j);
                assertThat(SpecialFunctions.regularizedIncompleteBeta(x, a, b)).isCloseTo(p, within(1e-13));
            }
        }
    }

    private static double binom(int n, int k) {
        double c = 1;
        for (int i = 1; i <= k; i++) c = c * (n - k + i) / i;
        return c;
    }

    @Test
    void capProbabilityIsTheSphereGeometry() {
        // On S² (d = 3) the area with |cos θ| >= δ is the fraction 1 − δ (Archimedes).
        for (double d = 0; d < 1; d += 0.05) assertThat(LocMoECapacity.capProbability(d, 3)).isCloseTo(1 - d, within(1e-12));
        // On S¹ (d = 2) directions are uniform angles: P(|cos θ| >= δ) = 1 − (2/π) asin δ.
        for (double d = 0; d < 1; d += 0.05) assertThat(LocMoECapacity.capProbability(d, 2)).isCloseTo(1 - 2 / Math.PI * Math.asin(d), within(1e-12));
        // Monte Carlo in d = 64 (20000 samples: standard error ~0.0035).
        SplittableRandom r = new SplittableRandom(3);
        int hits = 0, n = 20_000, dim = 64;
        for (int i = 0; i < n; i++) {
            double first = r.nextGaussian(), norm = first * first;
            for (int j = 1; j < dim; j++) { double v = r.nextGaussian(); norm += v * v; }
            if (Math.abs(first) / Math.sqrt(norm) >= 0.1) hits++;
        }
        assertThat((double) hits / n).isCloseTo(LocMoECapacity.capProbability(0.1, dim), within(0.015));
    }

    @Test
    void capacityIsTheLargerOfStandardAndBound() {
        // δ = 0: bound is 1/N of the batch, below the standard capacity for c_f >= 1.
        assertThat(LocMoECapacity.capacity(64, 1.25, 16, 0, 64)).isEqualTo(5);
        // d = 3, δ = 0.5: bound 1 / (N · 0.5) = 2/N, i.e. 8 of 64 tokens with N = 16, above ⌈64·1.25/16⌉ = 5.
        assertThat(LocMoECapacity.capacity(64, 1.25, 16, 0.5, 3)).isEqualTo(8);
        assertThat(LocMoECapacity.capacity(64, 10, 16, 0.5, 3)).isEqualTo(40);
        assertThat(LocMoECapacity.capacity(10, 1, 2, 0.99, 3)).isEqualTo(10); // never above the batch
    }
}
