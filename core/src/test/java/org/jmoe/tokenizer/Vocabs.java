package org.jmoe.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Small vocabularies built in code, as GGUF metadata maps, and random test text. */
final class Vocabs {
    private Vocabs() {}

    /** GPT-2's byte → printable character table, written out from its definition. */
    static char byteChar(int b) {
        boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (printable) return (char) b;
        int n = 0;
        for (int x = 0; x < b; x++) {
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
        }
        return (char) (256 + n);
    }

    /**
     * A byte-level BPE vocabulary: ids 0..255 are the byte symbols in byte order, then one token per merge
     * result in merge order, then the given control tokens.
     */
    static Map<String, Object> bpe(String pre, String[] merges, String... controls) {
        List<String> tokens = new ArrayList<>();
        List<Long> types = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(byteChar(b)));
            types.add(1L);
        }
        for (String m : merges) {
            String t = m.replace(" ", "");
            if (!tokens.contains(t)) {
                tokens.add(t);
                types.add(1L);
            }
        }
        for (String c : controls) {
            tokens.add(c);
            types.add(3L);
        }
        Map<String, Object> meta = new HashMap<>();
        meta.put("tokenizer.ggml.model", "gpt2");
        if (pre != null) meta.put("tokenizer.ggml.pre", pre);
        meta.put("tokenizer.ggml.tokens", tokens.toArray(new String[0]));
        meta.put("tokenizer.ggml.token_type", types.stream().mapToLong(Long::longValue).toArray());
        meta.put("tokenizer.ggml.merges", merges);
        if (controls.length > 0) meta.put("tokenizer.ggml.eos_token_id", (long) (tokens.size() - controls.length));
        return meta;
    }

    /**
     * A SentencePiece vocabulary: {@code <unk>} 0, {@code <s>} 1, {@code </s>} 2, the 256 byte tokens
     * 3..258, then the given pieces with their scores.
     */
    static Map<String, Object> spm(String[] pieces, float[] scores) {
        List<String> toks = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        List<Long> types = new ArrayList<>(List.of(2L, 3L, 3L));
        List<Float> sc = new ArrayList<>(List.of(0f, 0f, 0f));
        for (int b = 0; b < 256; b++) {
            toks.add(String.format("<0x%02X>", b));
            types.add(6L);
            sc.add(0f);
        }
        for (int i = 0; i < pieces.length; i++) {
            toks.add(pieces[i]);
            types.add(1L);
            sc.add(scores[i]);
        }
        Map<String, Object> meta = new HashMap<>();
        meta.put("tokenizer.ggml.model", "llama");
        meta.put("tokenizer.ggml.tokens", toks.toArray(new String[0]));
        meta.put("tokenizer.ggml.token_type", types.stream().mapToLong(Long::longValue).toArray());
        float[] s = new float[sc.size()];
        for (int i = 0; i < s.length; i++) s[i] = sc.get(i);
        meta.put("tokenizer.ggml.scores", s);
        meta.put("tokenizer.ggml.bos_token_id", 1L);
        meta.put("tokenizer.ggml.eos_token_id", 2L);
        meta.put("tokenizer.ggml.unknown_token_id", 0L);
        return meta;
    }

    static int[] ids(Tokenizer t, String... tokens) {
        int[] out = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            out[i] = t.tokenId(tokens[i]);
            if (out[i] < 0) throw new IllegalArgumentException("no token " + tokens[i]);
        }
        return out;
    }

    private static final int[][] RANGES = {
            {0x20, 0x7e}, {0x20, 0x7e}, {0xa0, 0x24f}, {0x370, 0x3ff}, {0x400, 0x4ff}, {0x4e00, 0x4fff}, {0x3040, 0x30ff},
            {0xac00, 0xad00}, {0x1f600, 0x1f64f}, {0x1f300, 0x1f5ff}, {0x300, 0x36f}, {0x9, 0xd}, {0x660, 0x669}, {0x2000, 0x206f},
    };

    /** Random text: ASCII, Latin, Greek, Cyrillic, CJK, kana, Hangul, emoji, combining marks, whitespace runs, digits. */
    static String randomText(SplittableRandom r, int maxLen) {
        StringBuilder sb = new StringBuilder();
        int len = r.nextInt(maxLen + 1);
        for (int i = 0; i < len; i++) {
            int[] rg = RANGES[r.nextInt(RANGES.length)];
            sb.appendCodePoint(rg[0] + r.nextInt(rg[1] - rg[0] + 1));
            if (r.nextInt(6) == 0) sb.append("    \t\n".substring(r.nextInt(6)));
        }
        return sb.toString();
    }
}
