package org.jmoe.serve;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders chat messages into a prompt with the model's own Jinja chat template (GGUF {@code tokenizer.chat_template}),
 * as Hugging Face's {@code apply_chat_template} does: Jinjava with {@code trim_blocks} and {@code lstrip_blocks}, the
 * variables {@code messages} (a list of {@code {role, content}}), {@code add_generation_prompt = true},
 * {@code bos_token}, {@code eos_token}, and the function {@code raise_exception(msg)}. A template Jinjava cannot
 * render (checked at start on a probe conversation) is reported once on stderr and replaced by the fallback; so is a
 * model without a template. The fallback is ChatML when the vocabulary has {@code <|im_start|>}, else plain
 * {@code "System: …\nUser: …\nAssistant:"} lines.
 */
final class ChatTemplate {
    /** One chat message. */
    record Message(String role, String content) { }

    /** How prompts are made: the model's Jinja template, or a fallback. */
    enum Family { JINJA, CHATML, PLAIN }

    /** A template's own refusal ({@code raise_exception}), e.g. roles out of order: the request's fault. */
    static final class TemplateException extends RuntimeException {
        TemplateException(String message) { super(message); }
    }

    private final Family family;
    private final String template, bos, eos;
    private final Jinjava jinja;

    private ChatTemplate(Family family, String template, String bos, String eos) {
        this.family = family;
        this.template = template;
        this.bos = bos;
        this.eos = eos;
        this.jinja = family == Family.JINJA ? newJinjava() : null;
    }

    Family family() { return family; }

    static ChatTemplate of(String template, boolean hasImStart) {
        return of(template, hasImStart, "", "");
    }

    /** The renderer for a model's template text (null when it has none), with its BOS and EOS token texts. */
    static ChatTemplate of(String template, boolean hasImStart, String bos, String eos) {
        Family fallback = hasImStart ? Family.CHATML : Family.PLAIN;
        if (template == null || template.isBlank()) return new ChatTemplate(fallback, null, bos, eos);
        ChatTemplate t = new ChatTemplate(Family.JINJA, template, bos, eos);
        try {
            t.render(List.of(new Message("system", "S"), new Message("user", "U")));
            return t;
        } catch (RuntimeException e) {
            try {
                t.render(List.of(new Message("user", "U"))); // some templates refuse a system message
                return t;
            } catch (RuntimeException e2) {
                System.err.println("jmoe: warning: the model's chat template cannot be rendered (" + e2.getMessage()
                        + "); using the " + fallback.name().toLowerCase(java.util.Locale.ROOT) + " fallback");
                return new ChatTemplate(fallback, null, bos, eos);
            }
        }
    }

    private static Jinjava newJinjava() {
        Jinjava j = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withFailOnUnknownTokens(false).build());
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        return j;
    }

    /** {@code raise_exception(msg)} inside a template. */
    public static Object raiseException(String message) {
        throw new TemplateException(message);
    }

    /** The prompt for {@code messages}, ending where the assistant's reply starts. */
    String render(List<Message> messages) {
        return switch (family) {
            case JINJA -> jinja(messages);
            case CHATML -> {
                StringBuilder sb = new StringBuilder();
                for (Message m : messages) sb.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
                yield sb.append("<|im_start|>assistant\n").toString();
            }
            case PLAIN -> {
                StringBuilder sb = new StringBuilder();
                for (Message m : messages) sb.append(capitalise(m.role())).append(": ").append(m.content()).append('\n');
                yield sb.append("Assistant:").toString();
            }
        };
    }

    private String jinja(List<Message> messages) {
        List<Map<String, Object>> ms = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("role", m.role());
            o.put("content", m.content());
            ms.add(o);
        }
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("messages", ms);
        ctx.put("add_generation_prompt", true);
        ctx.put("bos_token", bos);
        ctx.put("eos_token", eos);
        RenderResult r = jinja.renderForResult(template, ctx);
        for (TemplateError e : r.getErrors()) {
            if (e.getException() != null && rootCause(e.getException()) instanceof TemplateException te) throw te;
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) throw new IllegalStateException("chat template: " + e.getMessage());
        }
        return r.getOutput();
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        return t;
    }

    private static String capitalise(String role) {
        return role.isEmpty() ? role : Character.toUpperCase(role.charAt(0)) + role.substring(1);
    }
}
