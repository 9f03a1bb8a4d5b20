package org.jmoe.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.format.AtomicFiles;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Fits a byte-level BPE vocabulary (GPT-2's scheme) on a text: the text is split into pieces by GPT-2's
 * pre-tokenizer expression, each piece's UTF-8 bytes are written as GPT-2's printable byte characters, and starting
 * from the 256 bytes the most frequent adjacent pair (ties: the smaller pair of ids) is merged until the vocabulary
 * has {@code vocab − 1} entries; the last id is {@code <|endoftext|>}. Written as a Hugging Face
 * {@code tokenizer.json} (ByteLevel pre-tokenizer and decoder, BPE model), which the engine's tokenizer loads.
 */
public final class BpeTrainer {
    /** GPT-2's pre-tokenizer expression. */
    static final Pattern SPLIT = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);
    public static final String EOS = "<|endoftext|>";

    private final List<String> tokens = new ArrayList<>();
    private final List<String> merges = new ArrayList<>();

    private BpeTrainer() {}

    /** GPT-2's byte → printable character map: printable Latin-1 bytes map to themselves, the rest to U+0100 up. */
    static char[] byteChars() {
        char[] c = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            c[b] = printable ? (char) b : (char) (256 + n++);
        }
        return c;
    }

    /** Fits a vocabulary of {@code vocab} ids (at least 257) on {@code text}. */
    public static BpeTrainer fit(String text, int vocab) {
        if (vocab < 257) throw new IllegalArgumentException("a byte-level vocabulary needs at least 257 ids, got " + vocab);
        BpeTrainer t = new BpeTrainer();
        char[] bc = byteChars();
        for (int b = 0; b < 256; b++) t.tokens.add(String.valueOf(bc[b]));
        Map<String, Integer> freq = new HashMap<>();
        Matcher m = SPLIT.matcher(text);
        while (m.find()) freq.merge(m.group(), 1, Integer::sum);
        List<String> keys = new ArrayList<>(freq.keySet());
        keys.sort(null);
        int W = keys.size();
        int[][] words = new int[W][];
        int[] lens = new int[W];
        long[] counts = new long[W];
        for (int i = 0; i < W; i++) {
            byte[] bytes = keys.get(i).getBytes(StandardCharsets.UTF_8);
            words[i] = new int[bytes.length];
            for (int j = 0; j < bytes.length; j++) words[i][j] = bytes[j] & 0xFF;
            lens[i] = bytes.length;
            counts[i] = freq.get(keys.get(i));
        }
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < 256; i++) ids.put(t.tokens.get(i), i);
        PairCounts pc = new PairCounts();
        while (t.tokens.size() < vocab - 1) {
            pc.clear();
            for (int i = 0; i < W; i++) for (int j = 0; j + 1 < lens[i]; j++) pc.add(pair(words[i][j], words[i][j + 1]), counts[i]);
            long best = pc.best();
            if (best < 0) break;
            int a = (int) (best >>> 32), b = (int) best;
            String s = t.tokens.get(a) + t.tokens.get(b);
            t.merges.add(t.tokens.get(a) + " " + t.tokens.get(b));
            Integer id = ids.get(s);
            if (id == null) {
                id = t.tokens.size();
                t.tokens.add(s);
                ids.put(s, id);
            }
            for (int i = 0; i < W; i++) {
                int[] w = words[i];
                int out = 0;
                for (int j = 0; j < lens[i]; j++) {
                    if (j + 1 < lens[i] && w[j] == a && w[j + 1] == b) {
                        w[out++] = id;
                        j++;
                    } else {
                        w[out++] = w[j];
                    }
                }
                lens[i] = out;
            }
        }
        return t;
    }

    private static long pair(int a, int b) { return ((long) a << 32) | (b & 0xFFFFFFFFL); }

    /** Ids including {@code <|endoftext|>}. */
    public int vocabSize() { return tokens.size() + 1; }

    public int eosId() { return tokens.size(); }

    public List<String> merges() { return merges; }

    public List<String> tokens() { return tokens; }

    /** Writes {@code tokenizer.json} atomically. */
    public void write(Path file) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("version", "1.0");
        ArrayNode added = root.putArray("added_tokens");
        ObjectNode eos = added.addObject();
        eos.put("id", eosId());
        eos.put("content", EOS);
        eos.put("single_word", false);
        eos.put("lstrip", false);
        eos.put("rstrip", false);
        eos.put("normalized", false);
        eos.put("special", true);
        root.putNull("normalizer");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "ByteLevel");
        pre.put("add_prefix_space", false);
        pre.put("trim_offsets", true);
        pre.put("use_regex", true);
        root.putNull("post_processor");
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "ByteLevel");
        dec.put("add_prefix_space", false);
        dec.put("trim_offsets", true);
        dec.put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.put("byte_fallback", false);
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < tokens.size(); i++) if (!v.has(tokens.get(i))) v.put(tokens.get(i), i);
        ArrayNode mg = model.putArray("merges");
        for (String s : merges) mg.add(s);
        AtomicFiles.write(file, tmp -> Files.writeString(tmp, om.writerWithDefaultPrettyPrinter().writeValueAsString(root)));
    }

    /** Pair → count, open addressing over primitive longs; {@link #best} is the largest count, ties to the smaller pair. */
    private static final class PairCounts {
        private long[] keys = new long[1 << 16], vals = new long[1 << 16];
        private int size;

        void clear() {
            java.util.Arrays.fill(keys, -1L);
            java.util.Arrays.fill(vals, 0L);
            size = 0;
        }

        void add(long key, long v) {
            if (size * 2 >= keys.length) grow();
            int mask = keys.length - 1;
            int i = (int) (mix(key) & mask);
            while (keys[i] != -1L && keys[i] != key) i = (i + 1) & mask;
            if (keys[i] == -1L) {
                keys[i] = key;
                size++;
            }
            vals[i] += v;
        }

        private void grow() {
            long[] ok = keys, ov = vals;
            keys = new long[ok.length * 2];
            vals = new long[ok.length * 2];
            java.util.Arrays.fill(keys, -1L);
            size = 0;
            for (int i = 0; i < ok.length; i++) if (ok[i] != -1L) add(ok[i], ov[i]);
        }

        long best() {
            long bk = -1, bv = 1;
            for (int i = 0; i < keys.length; i++) {
                if (keys[i] == -1L) continue;
                if (vals[i] > bv || (vals[i] == bv && bk >= 0 && keys[i] < bk)) {
                    bk = keys[i];
                    bv = vals[i];
                }
            }
            return bk;
        }

        private static long mix(long z) {
            z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
            return z ^ (z >>> 33);
        }
    }
}
