package org.jmoe.serve;

import java.util.List;

/**
 * Renders chat messages into a prompt. The GGUF key {@code tokenizer.chat_template} holds a Jinja template; the
 * server recognises the template families in use by their markers and renders them natively:
 * ChatML ({@code <|im_start|>}: Qwen, OLMoE and others), Llama 3 ({@code <|start_header_id|>}), Mistral/Llama 2
 * ({@code [INST]}) and Granite ({@code <|start_of_role|>}). A model without a template, or with one of another
 * family, uses the fallback: ChatML when its vocabulary has {@code <|im_start|>}, else plain
 * {@code "System: …\nUser: …\nAssistant:"} lines.
 */
final class ChatTemplate {
    /** One chat message. */
    record Message(String role, String content) { }

    enum Family { CHATML, LLAMA3, INST, GRANITE, PLAIN }

    private final Family family;

    private ChatTemplate(Family family) { this.family = family; }

    Family family() { return family; }

    /** The renderer for a model's template text (null when it has none); {@code hasImStart}: the vocabulary knows ChatML. */
    static ChatTemplate of(String template, boolean hasImStart) {
        if (template != null) {
            if (template.contains("<|im_start|>")) return new ChatTemplate(Family.CHATML);
            if (template.contains("<|start_header_id|>")) return new ChatTemplate(Family.LLAMA3);
            if (template.contains("<|start_of_role|>")) return new ChatTemplate(Family.GRANITE);
            if (template.contains("[INST]")) return new ChatTemplate(Family.INST);
        }
        return new ChatTemplate(hasImStart ? Family.CHATML : Family.PLAIN);
    }

    /** The prompt for {@code messages}, ending where the assistant's reply starts. */
    String render(List<Message> messages) {
        StringBuilder sb = new StringBuilder();
        switch (family) {
            case CHATML -> {
                for (Message m : messages) sb.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
                sb.append("<|im_start|>assistant\n");
            }
            case LLAMA3 -> {
                for (Message m : messages) {
                    sb.append("<|start_header_id|>").append(m.role()).append("<|end_header_id|>\n\n").append(m.content().strip()).append("<|eot_id|>");
                }
                sb.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
            case GRANITE -> {
                for (Message m : messages) sb.append("<|start_of_role|>").append(m.role()).append("<|end_of_role|>").append(m.content()).append("<|end_of_text|>\n");
                sb.append("<|start_of_role|>assistant<|end_of_role|>");
            }
            case INST -> {
                String system = null;
                for (Message m : messages) {
                    switch (m.role()) {
                        case "system" -> system = m.content();
                        case "assistant" -> sb.append(' ').append(m.content().strip()).append("</s>");
                        default -> {
                            sb.append("[INST] ");
                            if (system != null) { sb.append(system).append("\n\n"); system = null; }
                            sb.append(m.content().strip()).append(" [/INST]");
                        }
                    }
                }
            }
            case PLAIN -> {
                for (Message m : messages) sb.append(capitalise(m.role())).append(": ").append(m.content()).append('\n');
                sb.append("Assistant:");
            }
        }
        return sb.toString();
    }

    private static String capitalise(String role) {
        return role.isEmpty() ? role : Character.toUpperCase(role.charAt(0)) + role.substring(1);
    }
}
