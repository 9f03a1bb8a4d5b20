package org.jmoe.tokenizer;

import org.jmoe.JmoeException;
import org.jmoe.Reference;
import org.jmoe.format.GgufFile;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TokenizerTest {
    static Tokenizer referenceBpe() {
        try (GgufFile f = GgufFile.open(Reference.model("llama_moe.gguf"))) {
            return Tokenizers.fromGguf("llama_moe.gguf", f.metadata());
        }
    }

    static int[] ids(Tokenizer t, String... tokens) {
        Map<String, Integer> byText = new HashMap<>();
        for (int i = 0; i < t.vocabSize(); i++) byText.putIfAbsent(t.token(i), i);
        int[] out = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) out[i] = byText.get(tokens[i]);
        return out;
    }

    @Test
    void bpeMergesByRank() {
        Tokenizer t = referenceBpe();
        // merges (rank order): "Ġ t", "h e", "i n", ..., "Ġt he" (6): " the" = Ġ t h e -> Ġt h e -> Ġt he -> Ġthe
        assertThat(t.encode(" the", false)).containsExactly(ids(t, "Ġthe"));
        // "the" has no Ġ: t h e -> t he, and "t he" is no merge
        assertThat(t.encode("the", false)).containsExactly(ids(t, "t", "he"));
        // GPT-2 pre-tokenizer: "in the" -> "in" + " the"; "in" merges (rank 2)
        assertThat(t.encode("in the", false)).containsExactly(ids(t, "in", "Ġthe"));
        // control tokens in the text are recognised verbatim
        assertThat(t.encode("<|im_start|>in", false)).containsExactly(ids(t, "<|im_start|>", "in"));
    }

    @Test
    void bpeRoundTripsArbitraryUnicode() {
        Tokenizer t = referenceBpe();
        SplittableRandom r = new SplittableRandom(9);
        int[][] ranges = {{0x20, 0x7e}, {0xa0, 0x24f}, {0x4e00, 0x4fff}, {0x1f600, 0x1f64f}, {0x300, 0x36f}, {0x9, 0xd}};
        for (int it = 0; it < 300; it++) {
            StringBuilder sb = new StringBuilder();
            int len = r.nextInt(40);
            for (int i = 0; i < len; i++) {
                int[] rg = ranges[r.nextInt(ranges.length)];
                sb.appendCodePoint(rg[0] + r.nextInt(rg[1] - rg[0] + 1));
                if (r.nextInt(5) == 0) sb.append("  ".substring(0, 1 + r.nextInt(2)));
            }
            String s = sb.toString();
            assertThat(t.decode(t.encode(s, false))).isEqualTo(s);
        }
    }

    /** A hand-made SentencePiece vocabulary: controls, ▁-words with scores, and byte fallback. */
    static Tokenizer spm() {
        List<String> toks = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        List<Integer> types = new ArrayList<>(List.of(2, 3, 3));
        List<Float> scores = new ArrayList<>(List.of(0f, 0f, 0f));
        for (int b = 0; b < 256; b++) {
            toks.add(String.format("<0x%02X>", b));
            types.add(6);
            scores.add(0f);
        }
        String[] words = {"▁", "h", "e", "l", "o", "▁h", "he", "ll", "llo", "▁he", "▁hello", "w", "r", "d", "▁w", "or", "▁wor", "ld"};
        float[] sc = {-1, -2, -2, -2, -2, -3, -4, -3, -5, -6, -7, -2, -2, -2, -3, -3, -4, -3};
        for (int i = 0; i < words.length; i++) {
            toks.add(words[i]);
            types.add(1);
            scores.add(sc[i]);
        }
        Map<String, Object> meta = new HashMap<>();
        meta.put("tokenizer.ggml.model", "llama");
        meta.put("tokenizer.ggml.tokens", toks.toArray(new String[0]));
        meta.put("tokenizer.ggml.token_type", types.stream().mapToLong(Integer::longValue).toArray());
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) s[i] = scores.get(i);
        meta.put("tokenizer.ggml.scores", s);
        meta.put("tokenizer.ggml.bos_token_id", 1L);
        meta.put("tokenizer.ggml.eos_token_id", 2L);
        meta.put("tokenizer.ggml.unknown_token_id", 0L);
        return Tokenizers.fromGguf("test", meta);
    }

    @Test
    void spmMergesHighestScoreFirstAndFallsBackToBytes() {
        Tokenizer t = spm();
        // "hello" -> "▁hello": pairs by score: ▁h(-3) ll(-3) he(-4)...: ▁h first (leftmost of the -3 ties),
        // then ll, then llo(-5) from ll+o, then ▁he? no: ▁h+e = "▁he" (-6), then ▁he+llo = "▁hello" (-7).
        assertThat(t.encode("hello", true)).containsExactly(1, ids(t, "▁hello")[0]);
        // "world": ▁w(-3) or(-3) ld(-3) -> ▁wor(-4) from ▁w+or -> "▁wor" "ld" (no "▁world")
        assertThat(t.encode("world", false)).containsExactly(ids(t, "▁wor", "ld"));
        // "é" is not in the vocabulary: its UTF-8 bytes C3 A9 become byte tokens
        assertThat(t.encode("hé", false)).containsExactly(ids(t, "▁h", "<0xC3>", "<0xA9>"));
        assertThat(t.decode(t.encode("hello world hé", true))).isEqualTo("hello world hé");
        assertThat(t.addsBos()).isTrue();
        assertThat(t.isEog(2)).isTrue();
    }

    @Test
    void badVocabulariesAreRefused() {
        Map<String, Object> meta = new HashMap<>();
        meta.put("tokenizer.ggml.model", "wordpiece");
        meta.put("tokenizer.ggml.tokens", new String[]{"a"});
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).isInstanceOf(JmoeException.class)
                .hasMessageContaining("m.gguf: unsupported tokenizer model 'wordpiece'");
        meta.put("tokenizer.ggml.model", "gpt2");
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("tokenizer.ggml.merges");
        meta.put("tokenizer.ggml.merges", new String[0]);
        meta.put("tokenizer.ggml.eos_token_id", 5L);
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("5 is not a token id");
    }
}
