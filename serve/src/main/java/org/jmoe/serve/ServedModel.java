package org.jmoe.serve;

import org.jmoe.format.GgufFile;
import org.jmoe.model.Model;
import org.jmoe.tokenizer.Tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The model behind the API: its id (the {@code --model-name}, else the file name without extension), tokenizer,
 * chat template, context length and end-of-generation tokens.
 */
record ServedModel(String id, Model model, ChatTemplate chatTemplate, int contextLength) {
    static ServedModel of(Model m, String name) {
        String id = name != null && !name.isBlank() ? name : baseName(m.path());
        Tokenizer tok = m.tokenizer();
        ChatTemplate t = ChatTemplate.of(templateText(m.path()), tok != null && tok.tokenId("<|im_start|>") >= 0,
                tokenText(tok, tok == null ? -1 : tok.bosId()), tokenText(tok, tok == null ? -1 : tok.eosId()));
        return new ServedModel(id, m, t, m.config().contextLength);
    }

    /** A special token's text as templates use it ({@code bos_token}), or "" when there is none. */
    private static String tokenText(Tokenizer tok, int id) {
        return tok == null || id < 0 || id >= tok.vocabSize() ? "" : tok.token(id);
    }

    /** The file or directory name without its extension. */
    static String baseName(Path p) {
        String f = p.getFileName().toString();
        int dot = f.lastIndexOf('.');
        return dot > 0 ? f.substring(0, dot) : f;
    }

    /** {@code tokenizer.chat_template} of a GGUF file, or null. */
    private static String templateText(Path p) {
        if (!Files.isRegularFile(p) || !p.getFileName().toString().endsWith(".gguf")) return null;
        try (GgufFile f = GgufFile.open(p)) {
            return f.get("tokenizer.chat_template") instanceof String s ? s : null;
        }
    }

    Tokenizer tokenizer() { return model.tokenizer(); }

    boolean isEndOfGeneration(int id) {
        Tokenizer t = model.tokenizer();
        return t != null ? t.isEog(id) : id == model.config().eosId;
    }
}
