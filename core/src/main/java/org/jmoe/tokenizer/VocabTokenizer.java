package org.jmoe.tokenizer;

import java.util.ArrayList;
import java.util.List;

/** What every vocabulary-based tokenizer answers the same way: sizes, special ids, token text, decoding. */
abstract sealed class VocabTokenizer implements Tokenizer permits BpeTokenizer, SpmTokenizer {
    final Vocab vocab;
    final boolean addBosDefault;
    final List<String> notes = new ArrayList<>();
    /** Each token's bytes when decoded; computed on first use. */
    private volatile byte[][] pieces;

    VocabTokenizer(Vocab vocab, boolean addBosDefault) {
        this.vocab = vocab;
        this.addBosDefault = addBosDefault;
    }

    /** The bytes {@code id} decodes to (no special-token text; an out-of-range id gives nothing). */
    final byte[] piece(int id) {
        byte[][] p = pieces;
        if (p == null) {
            p = new byte[vocab.size()][];
            for (int i = 0; i < p.length; i++) p[i] = computePiece(i);
            pieces = p;
        }
        return id >= 0 && id < p.length ? p[id] : new byte[0];
    }

    abstract byte[] computePiece(int id);

    /** Whether the first space of the decoded text is dropped (it was the prefix the encoder added). */
    boolean stripLeadingSpace() { return false; }

    @Override
    public TokenDecoder decoder() { return new TokenDecoder(this); }

    @Override
    public int vocabSize() { return vocab.size(); }

    @Override
    public int bosId() { return vocab.bos; }

    @Override
    public int eosId() { return vocab.eos; }

    @Override
    public boolean addsBos() { return addBosDefault && vocab.bos >= 0; }

    @Override
    public boolean isEog(int id) { return vocab.isEog(id); }

    @Override
    public String token(int id) { return vocab.tokens[id]; }

    @Override
    public int tokenId(String token) { return vocab.id(token); }

    @Override
    public List<String> notes() { return List.copyOf(notes); }

    /** A growable int list, to avoid boxing on the encode path. */
    static final class Ids {
        int[] a = new int[16];
        int n;

        void add(int v) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        void addAll(int[] v) {
            for (int x : v) add(x);
        }

        int[] toArray() { return java.util.Arrays.copyOf(a, n); }
    }
}
