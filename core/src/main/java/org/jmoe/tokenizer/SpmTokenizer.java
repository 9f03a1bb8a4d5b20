package org.jmoe.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * SentencePiece-style tokenizer (GGUF {@code tokenizer.ggml.model = llama}, or a {@code tokenizer.model}), as
 * llama.cpp's SPM tokenizer works: spaces become ▁ (U+2581), a space is prepended to the text at the start and
 * after each special token when {@code add_space_prefix}; the text starts as one symbol per character, and the
 * adjacent pair whose concatenation is a vocabulary token with the highest score is merged first (the leftmost
 * among equal scores) until no pair forms a token; a symbol left without a token becomes its UTF-8 bytes as
 * {@code <0xXX>} tokens (unk when those are missing).
 */
public final class SpmTokenizer extends VocabTokenizer {
    private static final char SPACE = '\u2581';

    private final float[] scores;
    private final boolean addSpacePrefix;
    private final int[] byteTokens = new int[256];

    SpmTokenizer(Vocab vocab, float[] scores, boolean addSpacePrefix, boolean addBos) {
        super(vocab, addBos);
        this.scores = scores;
        this.addSpacePrefix = addSpacePrefix;
        for (int b = 0; b < 256; b++) byteTokens[b] = vocab.id(BpeTokenizer.BYTE_TOKENS[b]);
    }

    @Override
    public int[] encode(String text, boolean addBos, boolean parseSpecial) {
        Ids out = new Ids();
        if (addBos && vocab.bos >= 0) out.add(vocab.bos);
        boolean prevSpecial = true;
        for (Vocab.Fragment f : vocab.split(text, parseSpecial)) {
            if (f.isToken()) {
                out.add(f.id());
                prevSpecial = true;
                continue;
            }
            String s = (addSpacePrefix && prevSpecial ? " " : "") + f.text();
            encodeText(s.replace(' ', SPACE), out);
            prevSpecial = false;
        }
        return out.toArray();
    }

    private float score(int id) {
        return scores == null ? 0f : scores[id];
    }

    /** Heap key: higher score first, then the leftmost; a plain signed-long order. */
    private static long key(float score, int left) {
        int bits = Float.floatToIntBits(score);
        long asc = (bits < 0 ? ~bits : bits ^ 0x80000000) & 0xffffffffL; // unsigned, increasing with score
        long desc = 0xffffffffL - asc;
        return ((desc - 0x80000000L) << 32) | left;
    }

    private void encodeText(String s, Ids out) {
        int n = s.codePointCount(0, s.length());
        if (n == 0) return;
        int[] start = new int[n], end = new int[n], prev = new int[n], next = new int[n];
        for (int i = 0, off = 0; i < n; i++) {
            int len = Character.charCount(s.codePointAt(off));
            start[i] = off;
            end[i] = off + len;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            off += len;
        }
        BpeTokenizer.LongHeap heap = new BpeTokenizer.LongHeap(Math.max(4, n));
        for (int i = 0; i + 1 < n; i++) tryPair(s, heap, i, i + 1, start, end);
        while (!heap.isEmpty()) {
            long k = heap.poll();
            int left = (int) k;
            int right = next[left];
            if (start[left] < 0 || right < 0) continue;
            int id = vocab.id(s.substring(start[left], end[right]));
            if (id < 0 || key(score(id), left) != k) continue; // stale: a side has changed
            end[left] = end[right];
            start[right] = -1;
            next[left] = next[right];
            if (next[left] >= 0) prev[next[left]] = left;
            if (prev[left] >= 0) tryPair(s, heap, prev[left], left, start, end);
            if (next[left] >= 0) tryPair(s, heap, left, next[left], start, end);
        }
        for (int i = 0; i >= 0; i = next[i]) {
            String sym = s.substring(start[i], end[i]);
            int id = vocab.id(sym);
            if (id >= 0) {
                out.add(id);
                continue;
            }
            for (byte b : sym.getBytes(StandardCharsets.UTF_8)) {
                int bt = byteTokens[b & 0xff];
                if (bt >= 0) out.add(bt);
                else if (vocab.unk >= 0) out.add(vocab.unk);
            }
        }
    }

    private void tryPair(String s, BpeTokenizer.LongHeap heap, int left, int right, int[] start, int[] end) {
        int id = vocab.id(s.substring(start[left], end[right]));
        if (id >= 0) heap.add(key(score(id), left));
    }

    @Override
    byte[] computePiece(int id) {
        String s = vocab.tokens[id];
        return switch (vocab.type(id)) {
            case Vocab.CONTROL, Vocab.UNUSED -> new byte[0];
            case Vocab.UNKNOWN -> "\u2585".getBytes(StandardCharsets.UTF_8);
            case Vocab.USER_DEFINED -> s.getBytes(StandardCharsets.UTF_8);
            case Vocab.BYTE -> BpeTokenizer.isByteToken(s) ? new byte[]{(byte) Integer.parseInt(s.substring(3, 5), 16)}
                    : s.getBytes(StandardCharsets.UTF_8);
            default -> s.replace(SPACE, ' ').getBytes(StandardCharsets.UTF_8);
        };
    }

    @Override
    boolean stripLeadingSpace() { return addSpacePrefix; }
}
