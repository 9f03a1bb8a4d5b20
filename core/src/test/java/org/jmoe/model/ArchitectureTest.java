package org.jmoe.model;

import org.jmoe.Reference;
import org.jmoe.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/** Architectures llama.cpp's references do not cover, against the independent double-precision forward pass. */
class ArchitectureTest {
    static final int[] TOKENS = {5, 17, 3, 88, 42, 9, 61, 0, 77, 12};

    static void assertMatches(float[] got, double[][] want, int V) {
        for (int t = 0; t < want.length; t++) {
            double maxAbs = 1, diff = 0;
            for (int i = 0; i < V; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(want[t][i]));
                diff = Math.max(diff, Math.abs(got[t * V + i] - want[t][i]));
            }
            // float32 engine vs float64 expectation over a few hundred operations per logit: ~1e-6 relative;
            // 1e-4 leaves margin, and a flipped routing decision would show as ~1e-1.
            assertThat(diff).as("position %d", t).isLessThanOrEqualTo(1e-4 * maxAbs);
        }
    }

    static void check(ModelConfig c, long seed) {
        try (Model m = TestModels.build(c, seed)) {
            float[] got = new float[TOKENS.length * c.vocab];
            new Forward(m, 32).eval(TOKENS, got, true);
            assertMatches(got, new DoubleForward(m).logits(TOKENS), c.vocab);
        }
    }

    @Test
    void doubleForwardItselfMatchesLlamaCpp() {
        // Validates the test's own expectation against llama.cpp before trusting it elsewhere.
        // DoubleForward has no q/k norms, so it is checked on the two references without them.
        for (String name : new String[]{"llama_moe", "qwen2moe"}) {
            Reference.Logits ref = Reference.logits(name);
            try (Model m = GgufModelLoader.load(Reference.model(name + ".gguf"))) {
                double[][] want = new DoubleForward(m).logits(ref.tokens());
                float[] flat = new float[ref.tokens().length * m.config().vocab];
                for (int t = 0; t < want.length; t++) for (int i = 0; i < m.config().vocab; i++) flat[t * m.config().vocab + i] = ref.logits()[t][i];
                assertMatches(flat, want, m.config().vocab);
            }
        }
    }

    @Test
    void graniteMultipliers() {
        check(TestModels.granite(), 11);
    }

    @Test
    void deepseekStyleRoutingWithSharedExpertAndLeadingDenseLayer() {
        check(TestModels.deepseek(), 12);
    }

    @Test
    void qwen2StyleGatedSharedExpert() {
        check(TestModels.qwen2(), 13);
    }

    /** A prompt gives bit-identical logits whether evaluated in one batch, in pieces, or token by token, on 1 or 2 threads. */
    @Test
    void batchInvariance() {
        ModelConfig c = TestModels.deepseek();
        try (Model m = TestModels.build(c, 21)) {
            int V = c.vocab, T = TOKENS.length;
            float[] whole = new float[T * V];
            new Forward(m, 32).eval(TOKENS, whole, true);
            for (int[] split : new int[][]{{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 7}, {5, 5}, {9, 1}}) {
                for (int threads : new int[]{1, 2}) {
                    Forward f = new Forward(m, 32);
                    Parallel pool = new Parallel(threads);
                    f.setPool(pool);
                    float[] got = new float[T * V];
                    int at = 0;
                    for (int n : split) {
                        float[] part = new float[n * V];
                        f.eval(Arrays.copyOfRange(TOKENS, at, at + n), part, true);
                        System.arraycopy(part, 0, got, at * V, n * V);
                        at += n;
                    }
                    pool.close();
                    assertThat(got).as("split %s, %d threads", Arrays.toString(split), threads).containsExactly(whole);
                }
            }
        }
    }
}
