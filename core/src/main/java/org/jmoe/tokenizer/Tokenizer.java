package org.jmoe.tokenizer;

/** Text to token ids and back. Implementations are thread-safe after construction. */
public interface Tokenizer {
    /** Token ids of {@code text}; control tokens written verbatim in the text (e.g. {@code <|im_start|>}) are recognised. */
    int[] encode(String text, boolean addBos);

    /** The text of {@code ids}; control tokens contribute nothing, incomplete UTF-8 becomes U+FFFD. */
    String decode(int[] ids);

    int vocabSize();

    /** Beginning-of-sequence id, or -1. */
    int bosId();

    /** Whether prompts start with BOS by default (GGUF {@code tokenizer.ggml.add_bos_token}). */
    boolean addsBos();

    /** End-of-sequence id, or -1. */
    int eosId();

    /** True for tokens that end generation (EOS, EOT). */
    boolean isEog(int id);

    /** The vocabulary entry of {@code id}, as stored. */
    String token(int id);
}
