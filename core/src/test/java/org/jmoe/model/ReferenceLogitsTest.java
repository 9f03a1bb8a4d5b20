package org.jmoe.model;

import org.jmoe.Reference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/** jmoe's logits for the reference models match llama.cpp's (F32 weights, all positions in one batch). */
class ReferenceLogitsTest {

    static float maxAbsDiff(float[] a, float[] b) {
        float m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    static float maxAbs(float[] a) {
        float m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama_moe", "qwen2moe", "qwen3moe", "olmoe"})
    void f32MatchesLlamaCpp(String name) {
        check(name, name + ".gguf");
    }

    /** Pangu Pro MoE (MoGE) safetensors checkpoints against an independent float64 forward pass. */
    @ParameterizedTest
    @ValueSource(strings = {"pangu_tiny64", "pangu_tiny16"})
    void panguMatchesFloat64Reference(String name) {
        check(name, name);
    }

    private static void check(String name, String file) {
        Reference.Logits ref = Reference.logits(name);
        try (Model m = ModelLoader.load(Reference.model(file))) {
            int V = m.config().vocab;
            assertThat(V).isEqualTo(ref.logits()[0].length);
            Forward f = new Forward(m, 64);
            float[] out = new float[ref.tokens().length * V];
            f.eval(ref.tokens(), out, true);
            for (int t = 0; t < ref.tokens().length; t++) {
                float[] row = java.util.Arrays.copyOfRange(out, t * V, (t + 1) * V);
                // The reference agrees with a float64 forward pass to ~1e-6; a float32 engine with a different
                // summation order differs by float rounding (~1e-7 relative per op over a few hundred ops):
                // 1e-4 relative to the largest logit leaves two orders of magnitude of margin.
                float tol = 1e-4f * Math.max(1f, maxAbs(ref.logits()[t]));
                assertThat(maxAbsDiff(row, ref.logits()[t])).as("%s position %d", name, t).isLessThanOrEqualTo(tol);
            }
        }
    }
}
