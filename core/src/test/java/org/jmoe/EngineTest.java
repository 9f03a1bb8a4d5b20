package org.jmoe;

import org.jmoe.model.Sampler;
import org.jmoe.model.Synth;
import org.jmoe.moe.TopKRouter;
import org.jmoe.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The embedding API as the README shows it. */
class EngineTest {
    @Test
    void logitsMatchTheReference() {
        Reference.Logits ref = Reference.logits("qwen2moe");
        try (Engine e = Engine.open(Reference.model("qwen2moe.gguf"))) {
            float[][] l = e.logits(ref.tokens());
            for (int t = 0; t < l.length; t++) {
                for (int i = 0; i < l[t].length; i++) assertThat(l[t][i]).isCloseTo(ref.logits()[t][i], org.assertj.core.data.Offset.offset(2e-4f));
            }
        }
    }

    @Test
    void generatesTextAndHonoursStopAndRouter(@TempDir Path dir) {
        Path p = dir.resolve("m.gguf");
        Synth.write("qwen3moe", "tiny", DType.F32, 4, p);
        try (Engine e = Engine.open(p)) {
            assertThat(e.detokenize(e.tokenize("the model"))).isEqualTo("the model");
            List<String> pieces = new ArrayList<>();
            var r = e.generate("the model", 6, Sampler.Options.greedy(), piece -> { pieces.add(piece); return pieces.size() < 3; });
            // greedy decoding of a random model either reaches the listener's stop or an end-of-generation token
            if (r.stopReason().equals("cancelled")) assertThat(pieces).hasSize(3);
            else assertThat(r.stopReason()).isEqualTo("stop");
            if (r.stopReason().equals("stop")) assertThat(e.tokenizer().isEog(r.tokens()[r.tokens().length - 1])).isTrue();
            // a different router changes the computation: top-1 instead of the model's top-2
            float[][] native_ = e.logits(new int[]{5, 6, 7});
            e.router(new TopKRouter("topk:k=1", TopKRouter.Scores.SOFTMAX, 1, true, 1f, 1, 1));
            float[][] top1 = e.logits(new int[]{5, 6, 7});
            assertThat(top1[2]).isNotEqualTo(native_[2]);
        }
    }

    @Test
    void checkpointWithoutTokenizerSaysSo() {
        try (Engine e = Engine.open(Reference.model("pangu_tiny16"))) {
            assertThatThrownBy(() -> e.tokenize("hi")).isInstanceOf(JmoeException.class).hasMessageContaining("has no tokenizer");
            assertThat(e.logits(new int[]{1, 2})).hasNumberOfRows(2);
        }
    }
}
