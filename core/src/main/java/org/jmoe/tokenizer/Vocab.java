package org.jmoe.tokenizer;

import org.jmoe.JmoeException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A vocabulary: token strings, their types (GGUF {@code token_type} / SentencePiece piece types), the special
 * ids, the end-of-generation set, and the matcher that finds special tokens written verbatim in text.
 */
final class Vocab {
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

    /** Control tokens that end generation by their text (as llama.cpp also decides it). */
    private static final Set<String> EOG_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
            "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<eos>",
            "<\uff5cend\u2581of\u2581sentence\uff5c>");

    final String who;
    final String[] tokens;
    final int[] types;
    final Map<String, Integer> ids;
    final int bos, eos, eot, unk;
    private final boolean[] eog;
    /** Special tokens by their first char, longest first within each list. */
    private final Map<Character, int[]> specialsByFirst = new HashMap<>();

    /** A piece of input text: either plain text, or one special token ({@code id >= 0}). */
    record Fragment(String text, int id) {
        boolean isToken() { return id >= 0; }
    }

    /**
     * @param types per-token types, or null for all normal
     * @param key   how the source names a special id, e.g. {@code "tokenizer.ggml.%s"} or {@code "field %s"}
     */
    Vocab(String who, String[] tokens, int[] types, int bos, int eos, int eot, int unk, String key) {
        this.who = who;
        if (tokens.length == 0) throw new JmoeException(who, "empty vocabulary", String.format(key, "tokens"));
        if (types != null && types.length != tokens.length) {
            throw new JmoeException(who, "token_type has " + types.length + " entries for " + tokens.length + " tokens", String.format(key, "token_type"));
        }
        this.tokens = tokens;
        this.types = new int[tokens.length];
        this.ids = new HashMap<>(tokens.length * 2);
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] == null) throw new JmoeException(who, "token " + i + " has no text", String.format(key, "tokens"));
            int t = types == null ? NORMAL : types[i];
            if (t < NORMAL || t > BYTE) t = NORMAL; // undefined types (0) count as normal, as llama.cpp does
            this.types[i] = t;
            ids.putIfAbsent(tokens[i], i);
        }
        this.bos = check(bos, key, "bos_token_id");
        this.eos = check(eos, key, "eos_token_id");
        this.eot = check(eot, key, "eot_token_id");
        this.unk = check(unk, key, "unknown_token_id");
        eog = new boolean[tokens.length];
        if (this.eos >= 0) eog[this.eos] = true;
        if (this.eot >= 0) eog[this.eot] = true;
        Map<Character, List<Integer>> byFirst = new HashMap<>();
        for (int i = 0; i < tokens.length; i++) {
            int t = this.types[i];
            if (t == CONTROL && EOG_TEXTS.contains(tokens[i])) eog[i] = true;
            if ((t == CONTROL || t == USER_DEFINED || t == UNKNOWN) && !tokens[i].isEmpty() && ids.get(tokens[i]) == i) {
                byFirst.computeIfAbsent(tokens[i].charAt(0), c -> new ArrayList<>()).add(i);
            }
        }
        byFirst.forEach((c, l) -> specialsByFirst.put(c, l.stream()
                .sorted((a, b) -> tokens[b].length() != tokens[a].length() ? tokens[b].length() - tokens[a].length() : a - b)
                .mapToInt(Integer::intValue).toArray()));
    }

    private int check(int id, String key, String name) {
        if (id >= tokens.length) throw new JmoeException(who, id + " is not a token id (vocabulary of " + tokens.length + ")", String.format(key, name));
        return id < 0 ? -1 : id;
    }

    int size() { return tokens.length; }

    int type(int id) { return types[id]; }

    int id(String token) {
        Integer id = ids.get(token);
        return id == null ? -1 : id;
    }

    boolean isEog(int id) { return id >= 0 && id < eog.length && eog[id]; }

    /**
     * Splits {@code text} at special tokens written verbatim in it, leftmost first and the longest at each
     * position. User-defined tokens are always matched; control and unknown tokens only when
     * {@code parseSpecial}.
     */
    List<Fragment> split(String text, boolean parseSpecial) {
        List<Fragment> out = new ArrayList<>();
        if (specialsByFirst.isEmpty()) {
            if (!text.isEmpty()) out.add(new Fragment(text, -1));
            return out;
        }
        int start = 0;
        int i = 0;
        while (i < text.length()) {
            int[] cands = specialsByFirst.get(text.charAt(i));
            int hit = -1;
            if (cands != null) {
                for (int id : cands) {
                    if ((parseSpecial || types[id] == USER_DEFINED) && text.startsWith(tokens[id], i)) {
                        hit = id;
                        break;
                    }
                }
            }
            if (hit < 0) {
                i++;
                continue;
            }
            if (i > start) out.add(new Fragment(text.substring(start, i), -1));
            out.add(new Fragment(null, hit));
            i += tokens[hit].length();
            start = i;
        }
        if (start < text.length()) out.add(new Fragment(text.substring(start), -1));
        return out;
    }

    static int[] toInts(List<Integer> l) {
        int[] a = new int[l.size()];
        for (int i = 0; i < a.length; i++) a[i] = l.get(i);
        return a;
    }

    @Override
    public String toString() {
        return "Vocab[" + tokens.length + " tokens, specials " + Arrays.toString(new int[]{bos, eos, eot, unk}) + "]";
    }
}
