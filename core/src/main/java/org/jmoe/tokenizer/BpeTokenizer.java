package org.jmoe.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte-level BPE (GPT-2 family; GGUF {@code tokenizer.ggml.model = gpt2}, HF {@code tokenizer.json} with a
 * ByteLevel pre-tokenizer): text is split by the pre-tokenizer's regex, each piece's UTF-8 bytes are mapped to
 * printable characters (GPT-2's byte→unicode table), then adjacent symbols are merged by merge rank, lowest
 * first, until no merge applies.
 */
public final class BpeTokenizer extends VocabTokenizer {
    /** GPT-2's pre-tokenizer. */
    public static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** Llama 3's (llama.cpp "llama-bpe"). */
    public static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2/Qwen3's: as Llama 3 but single digits. */
    public static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static final char[] BYTE_CHAR = new char[256];
    private static final int[] CHAR_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + n++);
            BYTE_CHAR[b] = c;
            CHAR_BYTE[c] = b;
        }
    }

    private final Map<String, Integer> ranks = new HashMap<>();
    private final Pattern pre;
    private final boolean addBosDefault;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    BpeTokenizer(Vocab vocab, String[] merges, String preRegex, boolean addBosDefault) {
        super(vocab);
        for (int i = 0; i < merges.length; i++) ranks.putIfAbsent(merges[i], i);
        this.pre = Pattern.compile(preRegex, Pattern.UNICODE_CHARACTER_CLASS);
        this.addBosDefault = addBosDefault;
    }

    /** The pre-tokenizer regex for a GGUF {@code tokenizer.ggml.pre} name. */
    public static String preRegex(String pre) {
        if (pre == null) return GPT2;
        return switch (pre) {
            case "llama3", "llama-bpe", "llama-v3", "smaug-bpe", "dbrx", "olmo", "falcon3" -> LLAMA3;
            case "qwen2", "qwen35", "deepseek-r1-qwen", "hunyuan" -> QWEN2;
            default -> GPT2;
        };
    }

    static String bytesToSymbols(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length);
        for (byte x : b) sb.append(BYTE_CHAR[x & 0xff]);
        return sb.toString();
    }

    @Override
    public int[] encode(String text, boolean addBos) {
        List<Integer> out = new ArrayList<>();
        if (addBos && vocab.bos >= 0) out.add(vocab.bos);
        for (Object seg : vocab.splitSpecials(text)) {
            if (seg instanceof Integer id) {
                out.add(id);
                continue;
            }
            Matcher m = pre.matcher((String) seg);
            while (m.find()) {
                String piece = bytesToSymbols(m.group().getBytes(StandardCharsets.UTF_8));
                int[] ids = cache.get(piece);
                if (ids == null) {
                    ids = bpe(piece);
                    if (cache.size() < 100_000) cache.put(piece, ids);
                }
                for (int id : ids) out.add(id);
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private int[] bpe(String piece) {
        List<String> sym = new ArrayList<>(piece.length());
        for (int i = 0; i < piece.length(); i++) sym.add(String.valueOf(piece.charAt(i)));
        while (sym.size() > 1) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < sym.size(); i++) {
                Integer r = ranks.get(sym.get(i) + " " + sym.get(i + 1));
                if (r != null && r < bestRank) { bestRank = r; best = i; }
            }
            if (best < 0) break;
            String a = sym.get(best), b = sym.get(best + 1);
            List<String> next = new ArrayList<>(sym.size());
            for (int i = 0; i < sym.size(); i++) {
                if (i + 1 < sym.size() && sym.get(i).equals(a) && sym.get(i + 1).equals(b)) {
                    next.add(a + b);
                    i++;
                } else {
                    next.add(sym.get(i));
                }
            }
            sym = next;
        }
        List<Integer> ids = new ArrayList<>();
        for (String s : sym) {
            Integer id = vocab.ids.get(s);
            if (id != null) {
                ids.add(id);
            } else {
                // A symbol the vocabulary lacks: fall back to its single-byte symbols (or unk).
                for (int i = 0; i < s.length(); i++) {
                    Integer b = vocab.ids.get(String.valueOf(s.charAt(i)));
                    if (b != null) ids.add(b);
                    else if (vocab.unk >= 0) ids.add(vocab.unk);
                }
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id < 0 || id >= vocab.tokens.length) continue;
            int t = vocab.type(id);
            if (t == Vocab.CONTROL || t == Vocab.UNUSED) continue;
            String s = vocab.tokens[id];
            if (t == Vocab.USER_DEFINED) {
                bytes.writeBytes(s.getBytes(StandardCharsets.UTF_8));
                continue;
            }
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                int b = c < CHAR_BYTE.length ? CHAR_BYTE[c] : -1;
                if (b >= 0) bytes.write(b);
                else bytes.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Override
    public boolean addsBos() { return addBosDefault && vocab.bos >= 0; }
}
