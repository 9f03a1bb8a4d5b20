package org.jmoe.tokenizer;

/** Text to token ids and back. */
public interface Tokenizer {
    int[] encode(String text, boolean addBos);

    String decode(int[] ids);

    int vocabSize();

    int bosId();

    int eosId();

    boolean isEog(int id);

    String token(int id);
}
