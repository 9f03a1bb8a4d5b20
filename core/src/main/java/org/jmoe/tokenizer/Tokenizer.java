package org.jmoe.tokenizer;

import java.util.List;

/**
 * Text to token ids and back. Implementations are thread-safe after construction; a {@link TokenDecoder} is
 * not (make one per stream).
 */
public interface Tokenizer {
    /**
     * Token ids of {@code text}, with BOS first when {@code addBos} and the vocabulary has one. Special tokens
     * written verbatim in the text (e.g. {@code <|im_start|>}) become their ids: user-defined tokens always,
     * control tokens only when {@code parseSpecial}.
     */
    int[] encode(String text, boolean addBos, boolean parseSpecial);

    /** {@link #encode(String, boolean, boolean)} with control tokens recognised in the text. */
    default int[] encode(String text, boolean addBos) {
        return encode(text, addBos, true);
    }

    /**
     * The text of {@code ids}: control and unused tokens contribute nothing, byte tokens their byte;
     * UTF-8 left incomplete at the end becomes U+FFFD. Equal to feeding every id to a {@link #decoder()}
     * and then flushing it.
     */
    default String decode(int[] ids) {
        TokenDecoder d = decoder();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(d.next(id));
        return sb.append(d.flush()).toString();
    }

    /** A fresh streaming decoder: fed ids one by one, it returns only complete UTF-8 text. */
    TokenDecoder decoder();

    /** Number of tokens (ids are {@code 0 .. vocabSize()-1}). */
    int vocabSize();

    /** Beginning-of-sequence id, or -1 when there is none. */
    int bosId();

    /** End-of-sequence id, or -1 when there is none. */
    int eosId();

    /** Whether prompts start with BOS by default (GGUF {@code tokenizer.ggml.add_bos_token}). */
    boolean addsBos();

    /** True for tokens that end generation: EOS, EOT and control tokens such as {@code <|im_end|>}. */
    boolean isEog(int id);

    /** The vocabulary entry of {@code id}, as stored (e.g. {@code Ġthe}, {@code ▁the}, {@code <0x0A>}). */
    String token(int id);

    /** The id of the vocabulary entry {@code token}, or -1. */
    int tokenId(String token);

    /** Notes about approximations made when the tokenizer was built (e.g. an unknown pre-tokenizer); usually empty. */
    default List<String> notes() {
        return List.of();
    }
}
