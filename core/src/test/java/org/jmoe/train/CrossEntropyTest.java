package org.jmoe.train;

import jdk.incubator.vector.FloatVector;
import org.jmoe.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The vectorised cross-entropy against a double-precision softmax. */
class CrossEntropyTest {
    @Test
    void exponentialIsAccurateToAFewUlps() {
        // Truncation error 1.3e-7 relative plus ~10 float roundings of ≤ 6e-8 each: 1e-6 relative bounds it.
        for (double x = -90; x <= 0; x += 0.0137) {
            float xf = (float) x;
            float got = VecMath.expNonPositive(FloatVector.broadcast(FloatVector.SPECIES_PREFERRED, xf)).lane(0);
            double want = xf < -87f ? 0 : Math.exp(xf);
            assertThat((double) got).as("exp(%s)", xf).isCloseTo(want, within(1e-6 * want));
        }
    }

    @Test
    void lossGradientAndLogProbsMatchDouble() {
        SplittableRandom r = new SplittableRandom(3);
        int n = 7, v = 37; // v not a multiple of the vector width
        float[] z = new float[n * v];
        int[] y = new int[n];
        for (int i = 0; i < z.length; i++) z[i] = (float) (r.nextDouble() * 20 - 10);
        for (int t = 0; t < n; t++) y[t] = r.nextInt(v);
        double want = 0;
        double[] wantGrad = new double[n * v], wantLp = new double[n];
        for (int t = 0; t < n; t++) {
            double sum = 0;
            for (int i = 0; i < v; i++) sum += Math.exp(z[t * v + i]);
            wantLp[t] = z[t * v + y[t]] - Math.log(sum);
            want -= wantLp[t] / n;
            for (int i = 0; i < v; i++) wantGrad[t * v + i] = (Math.exp(z[t * v + i]) / sum - (i == y[t] ? 1 : 0)) / n;
        }
        float[] grad = new float[n * v];
        double[] lp = new double[n];
        try (Parallel two = new Parallel(2)) {
            // F32 exponentials (≤ 1e-6 relative) summed in F32 lanes: 1e-5 absolute on losses of a few nats.
            assertThat(CrossEntropy.lossAndGrad(two, z, y, n, v, grad)).isCloseTo(want, within(1e-5));
        }
        for (int i = 0; i < n * v; i++) assertThat((double) grad[i]).isCloseTo(wantGrad[i], within(1e-6));
        CrossEntropy.targetLogProbs(z, y, n, v, lp);
        for (int t = 0; t < n; t++) assertThat(lp[t]).isCloseTo(wantLp[t], within(1e-5));
    }
}
