package org.jmoe.tokenizer;

import org.jmoe.JmoeException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.jmoe.tokenizer.Vocabs.ids;

class BpeTokenizerTest {
    static final String[] MERGES = {"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġ t", "Ġt he", "b c", "a b", "a a"};

    static Tokenizer bpe(String pre) {
        return Tokenizers.fromGguf(Vocabs.bpe(pre, MERGES, "<|endoftext|>", "<|im_start|>", "<|im_end|>"));
    }

    @Test
    void byteSymbolTableIsGpt2s() {
        // bytes that are printable latin-1 map to themselves; the others to 256, 257, ... in byte order
        assertThat(BpeTokenizer.byteSymbols(new byte[]{'a', ' ', '\n', 0, (byte) 0xAD, (byte) 0xFF}))
                .isEqualTo("a\u0120\u010A\u0100\u0143\u00FF");
    }

    @Test
    void mergesLowestRankFirst() {
        Tokenizer t = bpe("gpt2");
        // "hello" -> h e l l o; rank 0 "h e" -> he l l o; rank 1 "l l" -> he ll o; rank 2 -> hell o; rank 3 -> hello
        assertThat(t.encode("hello", false)).containsExactly(ids(t, "hello"));
        // " world" -> Ġ w o r l d; "Ġ w"(4) -> Ġw o r l d; "o r"(5) -> Ġw or l d; "Ġw or"(6) -> Ġwor l d; "l d"(7) -> Ġwor ld
        assertThat(t.encode("hello world", false)).containsExactly(ids(t, "hello", "Ġwor", "ld"));
        // "abc": pairs (a,b) rank 11 and (b,c) rank 10: b c first, then no (a,bc) rule
        assertThat(t.encode("abc", false)).containsExactly(ids(t, "a", "bc"));
        // "aaaa": three equal pairs: leftmost first -> aa a a -> (aa,a) is no rule, (a,a) -> aa aa
        assertThat(t.encode("aaaa", false)).containsExactly(ids(t, "aa", "aa"));
        assertThat(t.encode("aaa", false)).containsExactly(ids(t, "aa", "a"));
        // " the" -> Ġ t h e: "h e"(0) -> Ġ t he; "Ġ t"(8) -> Ġt he; "Ġt he"(9) -> Ġthe
        assertThat(t.encode(" the", false)).containsExactly(ids(t, "Ġthe"));
        // bytes with no merges stay byte tokens: "é" = C3 A9
        assertThat(t.encode("é", false)).containsExactly(0xC3, 0xA9);
    }

    @Test
    void longWordsMergeInLogLinearTime() {
        String[] merges = {"a b", "ab ab", "abab abab"};
        Tokenizer t = Tokenizers.fromGguf(Vocabs.bpe("gpt2", merges));
        String word = "ab".repeat(40_000);
        long t0 = System.nanoTime();
        int[] ids = t.encode(word, false);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        // 40000 "ab" -> 20000 "abab" (leftmost pairs first) -> 10000 "abababab"
        assertThat(ids).hasSize(10_000).containsOnly(t.tokenId("abababab"));
        assertThat(ms).as("ms for an 80000-character word").isLessThan(2_000);
        assertThat(t.decode(ids)).isEqualTo(word);
    }

    @Test
    void specialTokensInText() {
        Tokenizer t = bpe("qwen2");
        int start = t.tokenId("<|im_start|>"), end = t.tokenId("<|im_end|>");
        assertThat(t.encode("<|im_start|>hello<|im_end|>", false)).containsExactly(start, t.tokenId("hello"), end);
        // without parseSpecial the control text is ordinary text: < | i m _ ...
        int[] plain = t.encode("<|im_start|>", false, false);
        assertThat(plain).doesNotContain(start);
        assertThat(t.decode(plain)).isEqualTo("<|im_start|>");
        // control tokens decode to nothing, and EOS / <|im_end|> end generation
        assertThat(t.decode(new int[]{start, t.tokenId("hello"), end})).isEqualTo("hello");
        assertThat(t.isEog(t.eosId())).isTrue();
        assertThat(t.isEog(end)).isTrue();
        assertThat(t.isEog(start)).isFalse();
        assertThat(t.eosId()).isEqualTo(t.tokenId("<|endoftext|>"));
        assertThat(t.bosId()).isEqualTo(-1);
        assertThat(t.encode("hello", true)).containsExactly(ids(t, "hello")); // no BOS to add
    }

    @Test
    void userDefinedTokensAreAlwaysMatched() {
        Map<String, Object> meta = Vocabs.bpe("gpt2", MERGES, "<ctl>");
        String[] toks = Arrays.copyOf((String[]) meta.get("tokenizer.ggml.tokens"), ((String[]) meta.get("tokenizer.ggml.tokens")).length + 1);
        long[] types = Arrays.copyOf((long[]) meta.get("tokenizer.ggml.token_type"), toks.length);
        toks[toks.length - 1] = "<think>";
        types[toks.length - 1] = 4;
        meta.put("tokenizer.ggml.tokens", toks);
        meta.put("tokenizer.ggml.token_type", types);
        Tokenizer t = Tokenizers.fromGguf(meta);
        int think = toks.length - 1;
        assertThat(t.encode("a<think>b", false, false)).containsExactly('a', think, 'b');
        assertThat(t.decode(new int[]{think})).isEqualTo("<think>"); // user-defined text is rendered
    }

    @Test
    void preTokenizersSplitAsTheirRegexesSay() {
        // default: punctuation runs first, then GPT-2's expression, digit runs, then groups of three digits
        assertThat(split("default", "it's 12345 apples!!")).containsExactly("it", "'", "s", " ", "123", "45", " apples", "!!");
        assertThat(split("gpt2", "Hello  world\n")).containsExactly("Hello", " ", " world", "\n");
        assertThat(split("llama-bpe", "I'M 12345 ok\n\n  x")).containsExactly("I", "'M", " ", "123", "45", " ok", "\n\n", " ", " x");
        assertThat(split("qwen2", "ab 123")).containsExactly("ab", " ", "1", "2", "3");
        assertThat(split("deepseek-llm", "Hi there\n12 你好")).containsExactly("Hi", " there", "\n", "12", " ", "你好");
        assertThat(split("deepseek-v3", "x1234 日本語!")).containsExactly("x", "123", "4", " ", "日本語", "!");
        assertThat(split("gpt-4o", "HelloWorld 12345")).containsExactly("Hello", "World", " ", "123", "45");
    }

    private static List<String> split(String pre, String text) {
        List<String> out = new ArrayList<>();
        PreTokenizer.regexes(PreTokenizer.forGgufPre(pre).regexes()).split(text, true, out);
        assertThat(String.join("", out)).isEqualTo(text);
        return out;
    }

    @Test
    void unknownPreTokenizerFallsBackToGpt2WithANote() {
        Tokenizer t = bpe("some-future-model");
        assertThat(t.notes()).singleElement().asString().contains("unknown pre-tokenizer 'some-future-model'", "GPT-2");
        assertThat(t.encode("hello world", false)).containsExactly(ids(t, "hello", "Ġwor", "ld"));
        assertThat(bpe("qwen2").notes()).isEmpty();
    }

    @Test
    void llama3IgnoresMergesForWholeWordTokens() {
        // "Ġwor" is a token, but no merge path leads to it from "Ġ w o r" when "o r" is missing
        String[] merges = {"Ġ w", "w o", "Ġw or", "o r"};
        Map<String, Object> meta = Vocabs.bpe("llama-bpe", merges);
        String[] toks = (String[]) meta.get("tokenizer.ggml.tokens");
        // drop the merge "o r" but keep its token "or": with merges only, " wor" -> Ġw o r (w o is rank 1 but Ġ w is 0)
        meta.put("tokenizer.ggml.merges", new String[]{"Ġ w", "w o", "Ġw or"});
        Tokenizer llama3 = Tokenizers.fromGguf(meta);
        assertThat(llama3.encode(" wor", false)).containsExactly(llama3.tokenId("Ġwor"));
        assertThat(llama3.addsBos()).isFalse(); // no BOS id in this vocabulary
        meta.put("tokenizer.ggml.pre", "gpt2");
        Tokenizer gpt2 = Tokenizers.fromGguf(meta);
        assertThat(gpt2.encode(" wor", false)).containsExactly(gpt2.tokenId("Ġw"), 'o', 'r');
        assertThat(toks).contains("or");
    }

    @Test
    void randomUnicodeRoundTrips() {
        SplittableRandom r = new SplittableRandom(20240611);
        for (String pre : new String[]{"default", "gpt2", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-v3", "gpt-4o"}) {
            Tokenizer t = bpe(pre);
            for (int it = 0; it < 150; it++) {
                String s = Vocabs.randomText(r, 40);
                int[] ids = t.encode(s, false, false);
                assertThat(t.decode(ids)).as("%s: %s", pre, s).isEqualTo(s);
                // the streaming decoder gives the same text in pieces
                TokenDecoder d = t.decoder();
                StringBuilder sb = new StringBuilder();
                for (int id : ids) sb.append(d.next(id));
                assertThat(d.pendingBytes()).isZero();
                assertThat(sb.append(d.flush()).toString()).isEqualTo(s);
            }
        }
    }

    @Test
    void streamingHoldsSplitCharacters() {
        Tokenizer t = bpe("gpt2");
        TokenDecoder d = t.decoder();
        // é = C3 A9, € = E2 82 AC, 😀 = F0 9F 98 80: byte tokens have ids equal to their byte
        assertThat(d.next(0xC3)).isEmpty();
        assertThat(d.pendingBytes()).isEqualTo(1);
        assertThat(d.next(0xA9)).isEqualTo("é");
        assertThat(d.next(0xE2)).isEmpty();
        assertThat(d.next(0x82)).isEmpty();
        assertThat(d.next(0xAC)).isEqualTo("€");
        assertThat(d.next(0xF0)).isEmpty();
        assertThat(d.next(0x9F)).isEmpty();
        assertThat(d.next(0x98)).isEmpty();
        assertThat(d.next(0x80)).isEqualTo("\uD83D\uDE00");
        assertThat(d.pendingBytes()).isZero();
        assertThat(d.flush()).isEmpty();
    }

    @Test
    void streamingReplacesWhatCanNeverBeValid() {
        Tokenizer t = bpe("gpt2");
        TokenDecoder d = t.decoder();
        assertThat(d.next(0xF0) + d.next(0x9F) + d.next(0x98)).isEmpty();
        assertThat(d.next('a')).isEqualTo("\uFFFDa");
        assertThat(d.next(0xFF)).isEqualTo("\uFFFD");          // never a UTF-8 byte
        assertThat(d.next(0xE0) + d.next(0x80)).isEqualTo("\uFFFD\uFFFD"); // E0 80 is an overlong start
        assertThat(d.next(0xC3)).isEmpty();
        assertThat(d.flush()).isEqualTo("\uFFFD");             // incomplete at the end
        assertThat(t.decode(new int[]{0xC3})).isEqualTo("\uFFFD");
        assertThat(d.next(t.tokenId("hello"))).isEqualTo("hello");
    }

    @Test
    void badGgufVocabulariesAreRefused() {
        Map<String, Object> meta = Vocabs.bpe("gpt2", MERGES, "<eos>");
        meta.put("tokenizer.ggml.model", "wordpiece");
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).isInstanceOf(JmoeException.class)
                .hasMessage("m.gguf: unsupported tokenizer model 'wordpiece' (jmoe reads gpt2 and llama) (key tokenizer.ggml.model)");
        meta.put("tokenizer.ggml.model", "gpt2");
        Object merges = meta.remove("tokenizer.ggml.merges");
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).isInstanceOf(JmoeException.class)
                .hasMessageContaining("missing merges").hasMessageContaining("key tokenizer.ggml.merges");
        meta.put("tokenizer.ggml.merges", new long[]{1});
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("expected an array of String, found long[]");
        meta.put("tokenizer.ggml.merges", merges);
        meta.put("tokenizer.ggml.eos_token_id", 5000L);
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("5000 is not a token id").hasMessageContaining("eos_token_id");
        meta.put("tokenizer.ggml.eos_token_id", "5");
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("expected an integer, found String");
        meta.put("tokenizer.ggml.eos_token_id", 0xFFFFFFFFL); // uint32 "none"
        assertThat(Tokenizers.fromGguf("m.gguf", meta).eosId()).isEqualTo(-1);
        meta.put("tokenizer.ggml.token_type", new long[]{1, 1});
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("token_type has 2 entries");
        meta.remove("tokenizer.ggml.token_type");
        meta.put("tokenizer.ggml.tokens", new String[0]);
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("empty vocabulary");
        meta.remove("tokenizer.ggml.tokens");
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("missing tokens");
        meta.put("tokenizer.ggml.add_bos_token", 1L);
        meta.put("tokenizer.ggml.tokens", new String[]{"a"});
        assertThatThrownBy(() -> Tokenizers.fromGguf("m.gguf", meta)).hasMessageContaining("expected a bool");
        meta.put("tokenizer.ggml.model", "none");
        assertThat(Tokenizers.fromGguf(meta)).isNull();
        assertThat(Tokenizers.fromGguf(Map.of())).isNull();
    }
}
