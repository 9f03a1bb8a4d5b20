package org.jmoe.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * Rank-ordered BPE, in two flavours:
 * <ul>
 * <li>byte-level (GPT-2 family; GGUF {@code tokenizer.ggml.model = gpt2}, HF {@code ByteLevel}): the
 *     pre-tokenizer splits the text into words, each word's UTF-8 bytes become printable characters by GPT-2's
 *     byte→unicode table, and decoding maps them back;</li>
 * <li>SentencePiece-style (HF {@code Metaspace} or a {@code Replace(" ", "▁")} normalizer, usually with
 *     {@code byte_fallback}): spaces are ▁, characters the vocabulary lacks become {@code <0xXX>} tokens.</li>
 * </ul>
 * Within a word the adjacent pair with the lowest merge rank is merged first (the leftmost among equal ranks),
 * until no listed pair is left. Symbols are token ids in a linked list and candidate pairs sit in a binary heap,
 * so a word of n characters costs O(n log n); results are cached per word.
 */
public final class BpeTokenizer extends VocabTokenizer {
    private static final char[] BYTE_CHAR = new char[256];
    private static final int[] CHAR_BYTE = new int[0x180];
    private static final int CACHE_LIMIT = 1 << 16;
    /** The byte-fallback token texts {@code <0x00>} .. {@code <0xFF>}. */
    static final String[] BYTE_TOKENS = new String[256];

    static {
        Arrays.fill(CHAR_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + n++);
            BYTE_CHAR[b] = c;
            CHAR_BYTE[c] = b;
            BYTE_TOKENS[b] = String.format("<0x%02X>", b);
        }
    }

    /** How text becomes BPE words and tokens become text again. */
    static final class Config {
        /** Applied to each text fragment between special tokens (HF normalizer); null for none. */
        UnaryOperator<String> normalizer;
        PreTokenizer pre = PreTokenizer.NONE;
        /** Words are mapped to GPT-2 byte symbols, and tokens decoded through the inverse map. */
        boolean byteLevel = true;
        /** Characters the vocabulary lacks become their UTF-8 bytes as {@code <0xXX>} tokens. */
        boolean byteFallback;
        /** A word that is itself a token is taken whole (llama.cpp {@code ignore_merges}, HF {@code ignore_merges}). */
        boolean ignoreMerges;
        /** A symbol with no token becomes unk (HF); otherwise it is dropped (llama.cpp). */
        boolean unkForMissing;
        /** Consecutive unk tokens are fused into one (HF {@code fuse_unk}). */
        boolean fuseUnk;
        /** Decoding of non-byte-level tokens: pairs of (from, to) replacements, e.g. ("▁", " "). */
        String[] decodeReplace = new String[0];
        /** The first space of decoded text is dropped (a prefix the encoder added). */
        boolean stripLeadingSpace;
        boolean addBos;
    }

    private final Config cfg;
    private final PairRanks ranks;
    private final int[] mergeResult;
    private final int[] byteTokens = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /** @param merges merge rules as (left, right) pairs in rank order (rank = index); rules whose parts are not tokens are skipped */
    BpeTokenizer(Vocab vocab, String[][] merges, Config cfg) {
        super(vocab, cfg.addBos);
        this.cfg = cfg;
        this.ranks = new PairRanks(merges.length);
        this.mergeResult = new int[merges.length];
        int skipped = 0;
        for (int r = 0; r < merges.length; r++) {
            String[] m = merges[r];
            int a = m == null ? -1 : vocab.id(m[0]);
            int b = m == null ? -1 : vocab.id(m[1]);
            int ab = m == null ? -1 : vocab.id(m[0] + m[1]);
            if (a < 0 || b < 0 || ab < 0) {
                skipped++;
                continue;
            }
            if (ranks.putIfAbsent(a, b, r)) mergeResult[r] = ab;
        }
        if (skipped > 0) notes.add(skipped + " of " + merges.length + " merges name pieces that are not tokens and were skipped");
        for (int b = 0; b < 256; b++) {
            byteTokens[b] = cfg.byteLevel ? vocab.id(String.valueOf(BYTE_CHAR[b])) : vocab.id(BYTE_TOKENS[b]);
        }
    }

    /** Merge rules "a b" as (a, b); the separator is the first space after the first character, null if none. */
    static String[][] splitMerges(String[] merges) {
        String[][] out = new String[merges.length][];
        for (int i = 0; i < merges.length; i++) {
            int sp = merges[i] == null || merges[i].isEmpty() ? -1 : merges[i].indexOf(' ', 1);
            out[i] = sp < 0 ? null : new String[]{merges[i].substring(0, sp), merges[i].substring(sp + 1)};
        }
        return out;
    }

    static String byteSymbols(byte[] bytes) {
        char[] c = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) c[i] = BYTE_CHAR[bytes[i] & 0xff];
        return new String(c);
    }

    @Override
    public int[] encode(String text, boolean addBos, boolean parseSpecial) {
        Ids out = new Ids();
        if (addBos && vocab.bos >= 0) out.add(vocab.bos);
        List<String> words = new ArrayList<>();
        boolean first = true;
        for (Vocab.Fragment f : vocab.split(text, parseSpecial)) {
            if (f.isToken()) {
                out.add(f.id());
                first = false;
                continue;
            }
            String s = cfg.normalizer != null ? cfg.normalizer.apply(f.text()) : f.text();
            words.clear();
            cfg.pre.split(s, first, words);
            first = false;
            for (String w : words) {
                if (w.isEmpty()) continue;
                String sym = cfg.byteLevel ? byteSymbols(w.getBytes(StandardCharsets.UTF_8)) : w;
                int[] ids = cache.get(sym);
                if (ids == null) {
                    ids = bpe(sym);
                    if (cache.size() < CACHE_LIMIT) cache.put(sym, ids);
                }
                out.addAll(ids);
            }
        }
        return out.toArray();
    }

    /** Merges one word (already in symbol form). */
    int[] bpe(String word) {
        if (cfg.ignoreMerges) {
            int whole = vocab.id(word);
            if (whole >= 0) return new int[]{whole};
        }
        int n = word.codePointCount(0, word.length());
        int[] id = new int[n], start = new int[n + 1], prev = new int[n], next = new int[n];
        for (int i = 0, off = 0; i < n; i++) {
            int cp = word.codePointAt(off);
            int len = Character.charCount(cp);
            start[i] = off;
            id[i] = vocab.id(word.substring(off, off + len));
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            off += len;
        }
        start[n] = word.length();
        LongHeap heap = new LongHeap(Math.max(4, n));
        for (int i = 0; i + 1 < n; i++) push(heap, i, id[i], id[i + 1]);
        while (!heap.isEmpty()) {
            long top = heap.poll();
            int rank = (int) (top >>> 32), left = (int) top;
            int right = next[left];
            // stale: the left symbol was absorbed, or either side has changed since the pair was queued
            if (id[left] < 0 || right < 0 || ranks.get(id[left], id[right]) != rank) continue;
            id[left] = mergeResult[rank];
            id[right] = -2; // absorbed
            next[left] = next[right];
            if (next[left] >= 0) prev[next[left]] = left;
            if (prev[left] >= 0) push(heap, prev[left], id[prev[left]], id[left]);
            if (next[left] >= 0) push(heap, left, id[left], id[next[left]]);
        }
        Ids out = new Ids();
        boolean lastUnk = false;
        for (int i = 0; i >= 0; i = next[i]) {
            if (id[i] >= 0) {
                out.add(id[i]);
                lastUnk = false;
                continue;
            }
            // a single character with no token of its own
            String ch = word.substring(start[i], next[i] >= 0 ? start[next[i]] : word.length());
            if (cfg.byteFallback) {
                boolean all = true;
                byte[] bytes = ch.getBytes(StandardCharsets.UTF_8);
                for (byte b : bytes) all &= byteTokens[b & 0xff] >= 0;
                if (all) {
                    for (byte b : bytes) out.add(byteTokens[b & 0xff]);
                    lastUnk = false;
                    continue;
                }
            }
            if (cfg.unkForMissing && vocab.unk >= 0) {
                if (!(cfg.fuseUnk && lastUnk)) out.add(vocab.unk);
                lastUnk = true;
            }
        }
        return out.toArray();
    }

    private void push(LongHeap heap, int left, int a, int b) {
        if (a < 0 || b < 0) return;
        int r = ranks.get(a, b);
        if (r >= 0) heap.add(((long) r << 32) | left);
    }

    @Override
    byte[] computePiece(int id) {
        int t = vocab.type(id);
        String s = vocab.tokens[id];
        if (t == Vocab.CONTROL || t == Vocab.UNUSED) return new byte[0];
        if (t == Vocab.USER_DEFINED) return s.getBytes(StandardCharsets.UTF_8);
        if (!cfg.byteLevel && (t == Vocab.BYTE || cfg.byteFallback) && isByteToken(s)) {
            return new byte[]{(byte) Integer.parseInt(s.substring(3, 5), 16)};
        }
        if (cfg.byteLevel) {
            ByteArrayOutputStream o = new ByteArrayOutputStream(s.length());
            for (int i = 0; i < s.length(); ) {
                int cp = s.codePointAt(i);
                int b = cp < CHAR_BYTE.length ? CHAR_BYTE[cp] : -1;
                if (b >= 0) o.write(b);
                else o.writeBytes(Character.toString(cp).getBytes(StandardCharsets.UTF_8));
                i += Character.charCount(cp);
            }
            return o.toByteArray();
        }
        for (int i = 0; i + 1 < cfg.decodeReplace.length; i += 2) s = s.replace(cfg.decodeReplace[i], cfg.decodeReplace[i + 1]);
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static boolean isByteToken(String s) {
        return s.length() == 6 && s.startsWith("<0x") && s.charAt(5) == '>'
                && Character.digit(s.charAt(3), 16) >= 0 && Character.digit(s.charAt(4), 16) >= 0;
    }

    @Override
    boolean stripLeadingSpace() { return cfg.stripLeadingSpace; }

    /** Open-addressing map from a pair of token ids to its merge rank. */
    static final class PairRanks {
        private final long[] keys;
        private final int[] vals;
        private final int mask;

        PairRanks(int expected) {
            int cap = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
            keys = new long[cap];
            vals = new int[cap];
            Arrays.fill(keys, -1L);
            mask = cap - 1;
        }

        private static int hash(long k) {
            k *= 0x9E3779B97F4A7C15L;
            return (int) (k ^ (k >>> 32));
        }

        boolean putIfAbsent(int a, int b, int rank) {
            long k = ((long) a << 32) | (b & 0xffffffffL);
            int i = hash(k) & mask;
            while (keys[i] != -1L) {
                if (keys[i] == k) return false;
                i = (i + 1) & mask;
            }
            keys[i] = k;
            vals[i] = rank;
            return true;
        }

        int get(int a, int b) {
            long k = ((long) a << 32) | (b & 0xffffffffL);
            int i = hash(k) & mask;
            while (keys[i] != -1L) {
                if (keys[i] == k) return vals[i];
                i = (i + 1) & mask;
            }
            return -1;
        }
    }

    /** A binary min-heap of longs. */
    static final class LongHeap {
        private long[] a;
        private int n;

        LongHeap(int cap) { a = new long[cap]; }

        boolean isEmpty() { return n == 0; }

        void add(long v) {
            if (n == a.length) a = Arrays.copyOf(a, n * 2);
            int i = n++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= v) break;
                a[i] = a[p];
                i = p;
            }
            a[i] = v;
        }

        long poll() {
            long top = a[0];
            long v = a[--n];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= n) break;
                if (c + 1 < n && a[c + 1] < a[c]) c++;
                if (a[c] >= v) break;
                a[i] = a[c];
                i = c;
            }
            a[i] = v;
            return top;
        }
    }
}
