package org.jmoe.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A byte-level BPE vocabulary for synthetic models: the 256 byte tokens in GPT-2's byte→unicode mapping,
 * merges that build common English words left to right (with and without the leading-space marker Ġ),
 * three control tokens, then unused padding up to the requested size.
 */
final class SynthVocab {
    static final String[] WORDS = ("the of and to in is was for that on with as by at from his her it an are were be this which "
            + "or had not but one all their they have has its been who also first new more after two would can there time "
            + "when into out up about so than only other some over most many such through between during under these may "
            + "model expert experts token tokens router route layer java engine group mixture once upon little world "
            + "said what will year people could them make like just him know take into year good some could see other "
            + "then now look only come over think also back use work well way even want because any give day most us").split(" ");

    final String[] tokens;
    final int[] types;
    final String[] merges;
    final int eos;
    final int bos;

    SynthVocab(int size) {
        List<String> toks = new ArrayList<>();
        List<Long> typ = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            toks.add(String.valueOf(byteChar(b)));
            typ.add(1L);
        }
        Set<String> merged = new LinkedHashSet<>();
        List<String> mergeList = new ArrayList<>();
        Set<String> vocab = new java.util.HashSet<>(toks);
        int room = size - 256 - 3;
        outer:
        for (String w : WORDS) {
            for (String form : new String[]{"Ġ" + w, w}) {
                String cur = form.substring(0, 1);
                for (int i = 1; i < form.length(); i++) {
                    String next = String.valueOf(form.charAt(i));
                    String m = cur + " " + next;
                    String tok = cur + next;
                    if (!vocab.contains(tok)) {
                        if (mergeList.size() >= room) break outer;
                        if (merged.add(m)) mergeList.add(m);
                        vocab.add(tok);
                        toks.add(tok);
                        typ.add(1L);
                    }
                    cur = tok;
                }
            }
        }
        eos = toks.size();
        toks.add("<|endoftext|>");
        typ.add(3L);
        toks.add("<|im_start|>");
        typ.add(3L);
        toks.add("<|im_end|>");
        typ.add(3L);
        bos = eos;
        while (toks.size() < size) {
            toks.add("[PAD" + toks.size() + "]");
            typ.add(5L);
        }
        tokens = toks.subList(0, size).toArray(new String[0]);
        types = typ.subList(0, size).stream().mapToInt(Long::intValue).toArray();
        merges = mergeList.toArray(new String[0]);
        if (size < 259) throw new IllegalArgumentException("vocabulary of " + size + " cannot hold the 256 byte tokens and 3 control tokens");
        assert Arrays.stream(tokens).distinct().count() == tokens.length;
    }

    /** GPT-2's reversible byte → printable unicode mapping. */
    static char byteChar(int b) {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return (char) b;
        int n = 0;
        for (int x = 0; x < b; x++) {
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
        }
        return (char) (256 + n);
    }
}
