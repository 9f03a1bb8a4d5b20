package org.jmoe.tokenizer;

/** What every vocabulary-based tokenizer answers the same way: sizes, special ids, token text. */
abstract class VocabTokenizer implements Tokenizer {
    final Vocab vocab;

    VocabTokenizer(Vocab vocab) {
        this.vocab = vocab;
    }

    @Override
    public int vocabSize() { return vocab.tokens.length; }

    @Override
    public int bosId() { return vocab.bos; }

    @Override
    public int eosId() { return vocab.eos; }

    @Override
    public boolean isEog(int id) { return vocab.isEog(id); }

    @Override
    public String token(int id) { return vocab.tokens[id]; }
}
