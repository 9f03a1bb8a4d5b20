package org.jmoe.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;

/**
 * SentencePiece-style BPE (GGUF {@code tokenizer.ggml.model = llama}, or a {@code tokenizer.model}): spaces
 * become ▁ (U+2581), a ▁ is prepended when {@code add_space_prefix}; the text starts as one symbol per
 * character, and the adjacent pair whose concatenation is a vocabulary token with the highest score is
 * merged first (ties to the leftmost) until none applies; characters outside the vocabulary fall back to
 * their UTF-8 bytes as {@code <0xXX>} tokens.
 */
public final class SpmTokenizer extends VocabTokenizer {
    private static final char SPACE = '\u2581';

    private final float[] scores;
    private final boolean addSpacePrefix;
    private final boolean addBos;
    private final int[] byteIds = new int[256];

    SpmTokenizer(Vocab vocab, float[] scores, boolean addSpacePrefix, boolean addBos) {
        super(vocab);
        this.scores = scores;
        this.addSpacePrefix = addSpacePrefix;
        this.addBos = addBos;
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.ids.get(String.format("<0x%02X>", b));
            byteIds[b] = id != null ? id : -1;
        }
    }

    private record Pair(int left, String text, float score, int version) { }

    @Override
    public int[] encode(String text, boolean addBosToken) {
        List<Integer> out = new ArrayList<>();
        if (addBosToken && vocab.bos >= 0) out.add(vocab.bos);
        boolean first = true;
        for (Object seg : vocab.splitSpecials(text)) {
            if (seg instanceof Integer id) {
                out.add(id);
                first = false;
                continue;
            }
            String s = ((String) seg).replace(' ', SPACE);
            if (first && addSpacePrefix) s = SPACE + s;
            first = false;
            encodeSegment(s, out);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private void encodeSegment(String s, List<Integer> out) {
        // symbols as a doubly linked list over code points
        List<String> sym = new ArrayList<>();
        s.codePoints().forEach(cp -> sym.add(new String(Character.toChars(cp))));
        int n = sym.size();
        if (n == 0) return;
        String[] text = sym.toArray(new String[0]);
        int[] prev = new int[n], next = new int[n], version = new int[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
        PriorityQueue<Pair> q = new PriorityQueue<>((a, b) -> a.score != b.score ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) offer(q, i, text[i] + text[i + 1], version[i]);
        while (!q.isEmpty()) {
            Pair p = q.poll();
            int l = p.left;
            if (text[l] == null || p.version != version[l] || next[l] < 0) continue;
            int r = next[l];
            if (!(text[l] + text[r]).equals(p.text)) continue;
            text[l] = p.text;
            version[l]++;
            text[r] = null;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            if (prev[l] >= 0) { version[prev[l]]++; offer(q, prev[l], text[prev[l]] + text[l], version[prev[l]]); }
            if (next[l] >= 0) offer(q, l, text[l] + text[next[l]], version[l]);
        }
        for (int i = 0; i >= 0; i = next[i]) {
            Integer id = vocab.ids.get(text[i]);
            if (id != null) {
                out.add(id);
                continue;
            }
            for (byte b : text[i].getBytes(StandardCharsets.UTF_8)) {
                int bid = byteIds[b & 0xff];
                if (bid >= 0) out.add(bid);
                else if (vocab.unk >= 0) out.add(vocab.unk);
            }
        }
    }

    private void offer(PriorityQueue<Pair> q, int left, String merged, int version) {
        Integer id = vocab.ids.get(merged);
        if (id != null) q.add(new Pair(left, merged, scores != null ? scores[id] : 0f, version));
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id < 0 || id >= vocab.tokens.length) continue;
            int t = vocab.type(id);
            if (t == Vocab.CONTROL || t == Vocab.UNUSED || t == Vocab.UNKNOWN) continue;
            String s = vocab.tokens[id];
            if (t == Vocab.BYTE && s.length() == 6 && s.startsWith("<0x")) {
                bytes.write(Integer.parseInt(s.substring(3, 5), 16));
                continue;
            }
            bytes.writeBytes(s.replace(SPACE, ' ').getBytes(StandardCharsets.UTF_8));
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        return addSpacePrefix && out.startsWith(" ") ? out.substring(1) : out;
    }

    @Override
    public boolean addsBos() { return addBos && vocab.bos >= 0; }
}
