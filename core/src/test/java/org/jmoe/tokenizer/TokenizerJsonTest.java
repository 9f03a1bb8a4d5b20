package org.jmoe.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;
import org.jmoe.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TokenizerJsonTest {
    @TempDir
    Path dir;

    static final String QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";

    static final String BYTE_LEVEL = """
            {
              "version": "1.0",
              "added_tokens": [
                {"id": 12, "content": "<|im_start|>", "special": true},
                {"id": 13, "content": "<|im_end|>", "special": true},
                {"id": 14, "content": "<tool>", "special": false}
              ],
              "normalizer": {"type": "NFC"},
              "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "%s"}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
              ]},
              "post_processor": {"type": "ByteLevel", "add_prefix_space": false},
              "decoder": {"type": "ByteLevel", "add_prefix_space": false},
              "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "byte_fallback": false,
                "vocab": {"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "w": 5, "r": 6, "d": 7, "he": 8, "ll": 9, "hell": 10,
                          "hello": 11, "1": 15, "2": 16, "Ġw": 17, "Ã": 18, "©": 19, "Ã©": 20},
                "merges": ["h e", ["l", "l"], "he ll", ["hell", "o"], "Ġ w", "Ã ©"]
              }
            }
            """.formatted(QWEN2_REGEX);

    static final String LLAMA2 = """
            {
              "added_tokens": [
                {"id": 0, "content": "<unk>", "special": true},
                {"id": 1, "content": "<s>", "special": true},
                {"id": 2, "content": "</s>", "special": true}
              ],
              "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
              ]},
              "pre_tokenizer": null,
              "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
              "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}
              ]},
              "model": {
                "type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
                "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0xC3>": 4, "<0xA9>": 5, "▁": 6, "h": 7, "i": 8,
                          "▁h": 9, "▁hi": 10, "t": 11, "▁t": 12},
                "merges": ["▁ h", "▁h i", "▁ t"]
              }
            }
            """;

    Tokenizer load(String json) throws Exception {
        Path p = dir.resolve("tokenizer.json");
        Files.writeString(p, json);
        return Tokenizers.fromTokenizerJson(p);
    }

    @Test
    void aCatastrophicallyBacktrackingSplitRegexIsStoppedWithAClearError() throws Exception {
        // (.*a){31} on 30 a's tries every way to cut the text into 31 pieces before failing (minutes in
        // java.util.regex, which memoizes simpler nested quantifiers): a tokenizer file must not hang the engine.
        Tokenizer t = load(BYTE_LEVEL.replace(QWEN2_REGEX, "(.*a){31}"));
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> t.encode("a".repeat(30), false))
                .isInstanceOf(org.jmoe.JmoeException.class).hasMessageContaining("backtracks too much");
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(5.0); // bounded by the read budget
        // the same tokenizer still encodes text on which its pattern is linear
        assertThat(t.encode("hello", false)).isNotEmpty();
    }

    @Test
    void byteLevelTokenizerJson() throws Exception {
        Tokenizer t = load(BYTE_LEVEL);
        assertThat(t.vocabSize()).isEqualTo(21);
        // split: "hello" " world" "1" "2"; "hello" by merges 0..3; " world" = Ġ w o r l d with only "Ġ w" applying
        assertThat(t.encode("hello world12<|im_start|><tool>", false)).containsExactly(11, 17, 3, 6, 2, 7, 15, 16, 12, 14);
        // NFC composes e + U+0301 to é = C3 A9 = "Ã©" in byte symbols, merged by "Ã ©"
        assertThat(t.encode("e\u0301", false)).containsExactly(20);
        assertThat(t.decode(new int[]{11, 17, 3, 6, 2, 7, 12, 14, 20})).isEqualTo("hello world<tool>é");
        assertThat(t.bosId()).isEqualTo(-1);
        assertThat(t.isEog(13)).isTrue(); // <|im_end|> by its name
        assertThat(t.addsBos()).isFalse();
    }

    @Test
    void sentencePieceStyleTokenizerJson() throws Exception {
        Tokenizer t = load(LLAMA2);
        assertThat(t.bosId()).isEqualTo(1);
        assertThat(t.addsBos()).isTrue();
        // "▁hi▁hé\n": "▁ h" merges at both places (leftmost first), then "▁h i"; é and \n fall back to bytes
        assertThat(t.encode("hi hé\n", true)).containsExactly(1, 10, 9, 4, 5, 3);
        assertThat(t.decode(new int[]{1, 10, 9, 4, 5, 3})).isEqualTo("hi hé\n");
        // x is neither a token nor a byte token: unk, and two unks in a row fuse
        assertThat(t.encode("xx t", false)).containsExactly(6, 0, 12);
        // the streaming decoder drops the prefix space once, and holds the split é
        TokenDecoder d = t.decoder();
        assertThat(d.next(1) + d.next(10)).isEqualTo("hi");
        assertThat(d.next(9)).isEqualTo(" h");
        assertThat(d.next(4)).isEmpty();
        assertThat(d.next(5)).isEqualTo("é");
    }

    @Test
    void metaspacePreTokenizerAndDirectoryConfig() throws Exception {
        ObjectNode root = (ObjectNode) new ObjectMapper().readTree(LLAMA2);
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "first").put("split", true);
        root.putObject("decoder").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "first");
        root.remove("post_processor");
        Files.writeString(dir.resolve("tokenizer.json"), root.toString());
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"}, \"add_bos_token\": true}");
        Tokenizer t = Tokenizers.fromDirectory(dir);
        assertThat(t.bosId()).isEqualTo(1);
        assertThat(t.eosId()).isEqualTo(2);
        assertThat(t.addsBos()).isTrue();
        assertThat(t.isEog(2)).isTrue();
        // "hi hi" -> "▁hi▁hi" -> words "▁hi" "▁hi"; after a special token no ▁ is prepended ("first")
        assertThat(t.encode("hi hi", false)).containsExactly(10, 10);
        assertThat(t.encode("<s>hi", false)).containsExactly(1, 7, 8);
        assertThat(t.decode(new int[]{10, 10})).isEqualTo("hi hi");
    }

    @Test
    void directoryWithoutTokenizer() {
        assertThat(Tokenizers.fromDirectory(dir)).isNull();
    }

    /** A tokenizer.json written from the reference GGUF vocabulary tokenizes exactly as the GGUF tokenizer does. */
    @Test
    void agreesWithTheGgufTokenizerOfTheSameVocabulary() throws Exception {
        Map<String, Object> meta = MiniGguf.metadata(Reference.model("llama_moe.gguf"));
        meta.put("tokenizer.ggml.pre", "llama-bpe");
        Tokenizer gguf = Tokenizers.fromGguf(meta);
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        String[] tokens = (String[]) meta.get("tokenizer.ggml.tokens");
        long[] types = (long[]) meta.get("tokenizer.ggml.token_type");
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").put("ignore_merges", true);
        ObjectNode vocab = model.putObject("vocab");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < tokens.length; i++) {
            if (types[i] == 3) added.addObject().put("id", i).put("content", tokens[i]).put("special", true);
            else vocab.put(tokens[i], i);
        }
        ArrayNode merges = model.putArray("merges");
        for (String m : (String[]) meta.get("tokenizer.ggml.merges")) merges.add(m);
        ArrayNode pre = root.putObject("pre_tokenizer").put("type", "Sequence").putArray("pretokenizers");
        pre.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false)
                .putObject("pattern").put("Regex", PreTokenizer.LLAMA3);
        pre.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", false);
        root.putObject("decoder").put("type", "ByteLevel");
        Tokenizer hf = load(root.toString());
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < 300; i++) {
            String s = Vocabs.randomText(r, 40) + (i % 3 == 0 ? "<|im_start|>the<|im_end|>" : "");
            int[] ids = hf.encode(s, false);
            assertThat(ids).as(s).containsExactly(gguf.encode(s, false));
            assertThat(hf.decode(ids)).isEqualTo(s.replace("<|im_start|>", "").replace("<|im_end|>", ""));
        }
    }

    @Test
    void badTokenizerJson() throws Exception {
        Path p = dir.resolve("tokenizer.json");
        String[][] cases = {
                {"{\"model\": ", "malformed JSON", "line 1, column"},
                {"[1, 2]", "expected a JSON object", "top level"},
                {"{}", "missing model", "field model"},
                {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "only BPE models are supported, found 'WordPiece'", "field model.type"},
                {"{\"model\": {\"type\": \"BPE\", \"merges\": []}}", "missing vocab", "field model.vocab"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", "expected an object", "field model.vocab"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "missing merges", "field model.merges"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [1]}}", "merge must be", "field model.merges[0]"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", "not two pieces", "field model.merges[0]"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", "non-negative integer", "field model.vocab.a"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", "id 0 given to both", "field model.vocab.b"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "empty vocabulary", "field model.vocab"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"content\": \"x\"}]}", "missing id", "field added_tokens[0].id"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"unk_token\": \"<unk>\"}}", "is not in the vocabulary", "field model.unk_token"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}", "pre-tokenizer 'BertPreTokenizer' is not supported", "field pre_tokenizer.type"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"BertNormalizer\"}]}}", "normalizer 'BertNormalizer' is not supported", "field normalizer.normalizers[0].type"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}}", "regex not supported", "field pre_tokenizer.pattern"},
                {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"decoder\": {\"type\": \"CTC\"}}", "decoder 'CTC' is not supported", "field decoder.type"},
        };
        for (String[] c : cases) {
            Files.writeString(p, c[0]);
            assertThatThrownBy(() -> Tokenizers.fromTokenizerJson(p)).as(c[0]).isInstanceOf(JmoeException.class)
                    .hasMessageStartingWith(p + ": ").hasMessageContaining(c[1]).hasMessageContaining("(" + c[2]);
        }
        assertThatThrownBy(() -> Tokenizers.fromTokenizerJson(dir.resolve("absent.json"))).isInstanceOf(JmoeException.class).hasMessageContaining("cannot read");
    }
}
