package org.jmoe.tokenizer;

import org.jmoe.JmoeException;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.jmoe.tokenizer.Vocabs.ids;

class SpmTokenizerTest {
    static final String[] PIECES = {"▁", "h", "e", "l", "o", "▁h", "he", "ll", "llo", "▁he", "▁hello", "w", "r", "d", "▁w", "or", "▁wor", "ld"};
    static final float[] SCORES = {-1, -2, -2, -2, -2, -3, -4, -3, -5, -6, -7, -2, -2, -2, -3, -3, -4, -3};

    static Tokenizer spm() {
        return Tokenizers.fromGguf(Vocabs.spm(PIECES, SCORES));
    }

    @Test
    void mergesHighestScoreFirst() {
        Tokenizer t = spm();
        assertThat(t).isInstanceOf(SpmTokenizer.class);
        // "▁hello": ▁h(-3) and ll(-3) tie, leftmost first; then llo(-5), ▁he(-6), ▁hello(-7)
        assertThat(t.encode("hello", true)).containsExactly(1, t.tokenId("▁hello"));
        // "▁world": ▁w, or, ld (-3 each, left to right), then ▁wor(-4); "▁world" is no token
        assertThat(t.encode("world", false)).containsExactly(ids(t, "▁wor", "ld"));
        assertThat(t.encode("hello world", false)).containsExactly(ids(t, "▁hello", "▁wor", "ld"));
        // é is no piece: its UTF-8 bytes C3 A9 become byte tokens (ids 3 + byte)
        assertThat(t.encode("hé", false)).containsExactly(t.tokenId("▁h"), 3 + 0xC3, 3 + 0xA9);
        assertThat(t.decode(t.encode("hello world hé", true))).isEqualTo("hello world hé");
        assertThat(t.addsBos()).isTrue();
        assertThat(t.bosId()).isEqualTo(1);
        assertThat(t.eosId()).isEqualTo(2);
        assertThat(t.isEog(2)).isTrue();
        assertThat(t.decode(new int[]{0})).isEqualTo("\u2585"); // unknown, shown as llama.cpp shows it
    }

    @Test
    void spacePrefixAtTheStartAndAfterSpecialTokens() {
        Tokenizer t = spm();
        // as llama.cpp: the text after a special token gets its own ▁ prefix
        assertThat(t.encode("<s>hello</s>world", false)).containsExactly(1, t.tokenId("▁hello"), 2, t.tokenId("▁wor"), t.tokenId("ld"));
        assertThat(t.encode("<s>hello", false, false)).doesNotContain(1);
        Map<String, Object> meta = Vocabs.spm(PIECES, SCORES);
        meta.put("tokenizer.ggml.add_space_prefix", false);
        meta.put("tokenizer.ggml.add_bos_token", false);
        Tokenizer noPrefix = Tokenizers.fromGguf(meta);
        // "hello": ll(-3) first, then he(-4), then llo(-5) from ll+o; "hello" is no token
        assertThat(noPrefix.encode("hello", false)).containsExactly(ids(t, "he", "llo"));
        assertThat(noPrefix.addsBos()).isFalse();
        assertThat(noPrefix.decode(noPrefix.encode(" hello", false))).isEqualTo(" hello");
    }

    @Test
    void randomUnicodeRoundTrips() {
        Tokenizer t = spm();
        SplittableRandom r = new SplittableRandom(99);
        for (int i = 0; i < 400; i++) {
            String s = Vocabs.randomText(r, 40);
            int[] ids = t.encode(s, true, false);
            assertThat(t.decode(ids)).as(s).isEqualTo(s);
            TokenDecoder d = t.decoder();
            StringBuilder sb = new StringBuilder();
            for (int id : ids) sb.append(d.next(id));
            assertThat(sb.append(d.flush()).toString()).isEqualTo(s);
        }
    }

    @Test
    void streamingByteFallback() {
        Tokenizer t = spm();
        int[] ids = t.encode("h😀", false); // ▁h F0 9F 98 80
        assertThat(ids).containsExactly(t.tokenId("▁h"), 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80);
        TokenDecoder d = t.decoder();
        assertThat(d.next(ids[0])).isEqualTo("h");
        assertThat(d.next(ids[1]) + d.next(ids[2]) + d.next(ids[3])).isEmpty();
        assertThat(d.next(ids[4])).isEqualTo("😀");
    }

    @Test
    void badScores() {
        Map<String, Object> meta = Vocabs.spm(PIECES, SCORES);
        meta.put("tokenizer.ggml.scores", new float[3]);
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).isInstanceOf(JmoeException.class)
                .hasMessage("m.gguf: scores has 3 entries for 277 tokens (key tokenizer.ggml.scores)");
        meta.put("tokenizer.ggml.scores", new double[277]);
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("expected an array of float");
        meta.remove("tokenizer.ggml.scores");
        assertThat(Tokenizers.fromGguf("m.gguf", meta).vocabSize()).isEqualTo(277); // scores are optional
    }
}
