package org.jmoe.serve;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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

    /** A ChatML-style template written for this test, in the style of Hugging Face chat templates. */
    static final String CHATML = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            + "{{ '<|im_start|>system\\nDefault system.<|im_end|>\\n' }}{% endif %}"
            + "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /** A Llama-2-style template: BOS, [INST], a system message folded into the first turn, role order enforced. */
    static final String INST = """
            {% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}{% set rest = messages[1:] %}\
            {% else %}{% set sys = '' %}{% set rest = messages %}{% endif %}
            {% for m in rest %}
            {% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate user/assistant') }}{% endif %}
            {% if m['role'] == 'user' %}{{ bos_token }}[INST] {% if loop.first and sys %}<<SYS>>{{ sys }}<</SYS>> {% endif %}{{ m['content'] | trim }} [/INST]\
            {% else %} {{ m['content'] | trim }} {{ eos_token }}{% endif %}
            {% endfor %}""";

    @Test
    void theModelsJinjaTemplateIsRendered() {
        var sysUser = List.of(new ChatTemplate.Message("system", "Be brief."), new ChatTemplate.Message("user", "Hi"));
        var user = List.of(new ChatTemplate.Message("user", "Hi"));
        ChatTemplate chatml = ChatTemplate.of(CHATML, true);
        assertThat(chatml.family()).isEqualTo(ChatTemplate.Family.JINJA);
        assertThat(chatml.render(sysUser)).isEqualTo("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assertThat(chatml.render(user)).isEqualTo("<|im_start|>system\nDefault system.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");

        ChatTemplate inst = ChatTemplate.of(INST, false, "<s>", "</s>");
        assertThat(inst.family()).isEqualTo(ChatTemplate.Family.JINJA);
        var turns = List.of(new ChatTemplate.Message("system", "Be brief."), new ChatTemplate.Message("user", " Hi "),
                new ChatTemplate.Message("assistant", "Hello."), new ChatTemplate.Message("user", "Bye"));
        assertThat(inst.render(turns)).isEqualTo("<s>[INST] <<SYS>>Be brief.<</SYS>> Hi [/INST] Hello. </s><s>[INST] Bye [/INST]");
        // the template's own raise_exception is a refusal of the request
        assertThatThrownBy(() -> inst.render(List.of(new ChatTemplate.Message("assistant", "x"))))
                .isInstanceOf(ChatTemplate.TemplateException.class).hasMessageContaining("alternate");
    }

    @Test
    void withoutAUsableTemplateTheFallbackIsUsed() {
        var msgs = List.of(new ChatTemplate.Message("system", "Be brief."), new ChatTemplate.Message("user", "Hi"));
        assertThat(ChatTemplate.of(null, false).render(msgs)).isEqualTo("System: Be brief.\nUser: Hi\nAssistant:");
        assertThat(ChatTemplate.of(null, true).render(msgs))
                .isEqualTo("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        ChatTemplate broken = ChatTemplate.of("{% for m in messages %}{{ m.role ", true); // not valid Jinja
        assertThat(broken.family()).isEqualTo(ChatTemplate.Family.CHATML);
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
                    .putString("tokenizer.chat_template", "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
                            + "{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>{% endif %}");
            for (var t : f.tensors().values()) w.addTensor(t);
            w.write(out);
        }
        try (var m = org.jmoe.model.ModelLoader.load(out);
             OpenAiServer s = new OpenAiServer(m, null, ServeLimits.defaults().withKvBudget(1 << 20, 16), null, null, null)) {
            assertThat(s.chatTemplateFamily()).isEqualTo("jinja"); // the file's own template, rendered by Jinjava
            assertThat(s.modelId()).isEqualTo("llama3-chat");
        }
    }
}
