package org.jmoe.serve;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Stop strings across token boundaries, and the chat template families. */
class TextAndTemplateTest {
    @Test
    void aStopStringSplitOverTokensIsHeldBackAndCut() {
        // Without a tokenizer a token's text is its id ("12", then " 34", ...).
        TextAssembler t = new TextAssembler(null, List.of("3 4"));
        assertThat(t.push(12)).isEqualTo("12");
        assertThat(t.push(3)).isEqualTo(" "); // the "3" could start "3 4": held back
        assertThat(t.stopped()).isFalse();
        assertThat(t.push(4)).isEmpty();
        assertThat(t.stopped()).isTrue();
        assertThat(t.text()).isEqualTo("12 ");
        assertThat(t.flush()).isEmpty();
    }

    @Test
    void heldTextIsReleasedWhenItCannotBeAStop() {
        TextAssembler t = new TextAssembler(null, List.of("3 9"));
        assertThat(t.push(1) + t.push(3)).isEqualTo("1 ");
        assertThat(t.push(4)).isEqualTo("3 4");
        assertThat(t.push(3)).isEqualTo(" ");
        assertThat(t.flush()).isEqualTo("3");
        assertThat(t.text()).isEqualTo("1 3 4 3");
    }

    @Test
    void templateFamiliesRenderTheirMarkers() {
        var msgs = List.of(new ChatTemplate.Message("system", "Be brief."), new ChatTemplate.Message("user", "Hi"));
        assertThat(ChatTemplate.of("{% for m in messages %}<|im_start|>{{ m.role }}...", false).render(msgs))
                .isEqualTo("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assertThat(ChatTemplate.of("<|start_header_id|>", false).render(msgs))
                .isEqualTo("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n");
        assertThat(ChatTemplate.of("[INST]", false).render(msgs)).isEqualTo("[INST] Be brief.\n\nHi [/INST]");
        assertThat(ChatTemplate.of(null, false).render(msgs)).isEqualTo("System: Be brief.\nUser: Hi\nAssistant:");
        assertThat(ChatTemplate.of(null, true).family()).isEqualTo(ChatTemplate.Family.CHATML);
    }

    @Test
    void theTemplateComesFromTheGgufMetadata(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path src;
        try (var m = TestServers.tinyModel()) {
            src = m.path();
        }
        java.nio.file.Path out = dir.resolve("llama3-chat.gguf");
        try (var f = org.jmoe.format.GgufFile.open(src)) {
            var w = new org.jmoe.format.GgufWriter().putAll(f)
                    .putString("tokenizer.chat_template", "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>{% endfor %}");
            for (var t : f.tensors().values()) w.addTensor(t);
            w.write(out);
        }
        try (var m = org.jmoe.model.ModelLoader.load(out);
             OpenAiServer s = new OpenAiServer(m, null, ServeLimits.defaults().withKvBudget(1 << 20, 16), null, null, null)) {
            assertThat(s.chatTemplateFamily()).isEqualTo("llama3");
            assertThat(s.modelId()).isEqualTo("llama3-chat");
        }
    }
}
