package org.jmoe.tokenizer;

import org.jmoe.JmoeException;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A vocabulary: token strings, their types (GGUF token_type), special ids, and the control-token matcher. */
final class Vocab {
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

    final String[] tokens;
    final int[] types;
    final Map<String, Integer> ids = new HashMap<>();
    final int bos, eos, eot, unk;
    /** Control and user-defined tokens, longest first, matched verbatim in input text. */
    final List<String> specials = new ArrayList<>();

    Vocab(String who, String[] tokens, int[] types, int bos, int eos, int eot, int unk) {
        this.tokens = tokens;
        this.types = types;
        if (types != null && types.length != tokens.length) {
            throw new JmoeException(who, "token_type has " + types.length + " entries for " + tokens.length + " tokens", "key tokenizer.ggml.token_type");
        }
        for (int i = 0; i < tokens.length; i++) {
            ids.putIfAbsent(tokens[i], i);
            int t = type(i);
            if ((t == CONTROL || t == USER_DEFINED) && !tokens[i].isEmpty()) specials.add(tokens[i]);
        }
        specials.sort(Comparator.comparingInt(String::length).reversed());
        this.bos = check(who, bos, "bos_token_id");
        this.eos = check(who, eos, "eos_token_id");
        this.eot = check(who, eot, "eot_token_id");
        this.unk = check(who, unk, "unknown_token_id");
    }

    private int check(String who, int id, String key) {
        if (id >= tokens.length) throw new JmoeException(who, id + " is not a token id (vocabulary of " + tokens.length + ")", "key tokenizer.ggml." + key);
        return id;
    }

    int type(int id) {
        return types == null ? NORMAL : types[id];
    }

    /** Splits {@code text} into alternating plain segments and special-token ids (Integer). */
    List<Object> splitSpecials(String text) {
        List<Object> out = new ArrayList<>();
        if (specials.isEmpty()) {
            out.add(text);
            return out;
        }
        int start = 0, i = 0;
        outer:
        while (i < text.length()) {
            for (String s : specials) {
                if (text.startsWith(s, i)) {
                    if (i > start) out.add(text.substring(start, i));
                    out.add(ids.get(s));
                    i += s.length();
                    start = i;
                    continue outer;
                }
            }
            i++;
        }
        if (start < text.length()) out.add(text.substring(start));
        return out;
    }

    boolean isEog(int id) {
        return id >= 0 && (id == eos || id == eot);
    }
}
