package org.jmoe.tokenizer;

import org.jmoe.Reference;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.jmoe.tokenizer.Vocabs.ids;

/** The vocabularies of the reference GGUF files (synthetic: 256 byte tokens, 20 merges, control tokens, padding). */
class GgufVocabTest {
    static Tokenizer load(String name) throws Exception {
        Map<String, Object> meta = MiniGguf.metadata(Reference.model(name));
        return Tokenizers.fromGguf(name, meta);
    }

    @Test
    void llamaMoeVocabulary() throws Exception {
        Tokenizer t = load("llama_moe.gguf");
        assertThat(t).isInstanceOf(BpeTokenizer.class);
        assertThat(t.vocabSize()).isEqualTo(320);
        assertThat(t.notes()).isEmpty(); // "gpt-2" is a known pre-tokenizer
        for (int b = 0; b < 256; b++) assertThat(t.token(b)).isEqualTo(String.valueOf(Vocabs.byteChar(b)));
        assertThat(t.token(276)).isEqualTo("<|endoftext|>");
        assertThat(t.bosId()).isEqualTo(276);
        assertThat(t.eosId()).isEqualTo(276);
        assertThat(t.addsBos()).isFalse();
        assertThat(t.isEog(276)).isTrue();
        assertThat(t.isEog(t.tokenId("<|im_end|>"))).isTrue();
        // merges by rank: "Ġ t"(0) "h e"(1) ... "Ġt he"(6): " the" -> Ġt h e -> Ġt he -> Ġthe
        assertThat(t.encode(" the", false)).containsExactly(ids(t, "Ġthe"));
        // "the" has no Ġ: t h e -> t he; there is no "t he" rule
        assertThat(t.encode("the", false)).containsExactly(ids(t, "t", "he"));
        // "in the" -> "in" + " the"; "i n" is rank 2; "ll" rank 15, "Ġw" rank 12, "or" rank 10
        assertThat(t.encode("in the well or", false)).containsExactly(ids(t, "in", "Ġthe", "Ġw", "e", "ll", "Ġ", "or"));
        assertThat(t.encode("<|im_start|>in<|im_end|>", true)).containsExactly(276, 277, t.tokenId("in"), 278);
        assertThat(t.decode(new int[]{276, 277, t.tokenId("in"), 278, 280})).isEqualTo("in"); // control, unused: nothing
    }

    @Test
    void referenceVocabulariesRoundTrip() throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        for (String name : new String[]{"llama_moe.gguf", "qwen2moe.gguf", "qwen3moe.gguf", "olmoe.gguf"}) {
            Tokenizer t = load(name);
            for (int i = 0; i < 100; i++) {
                String s = Vocabs.randomText(r, 30);
                assertThat(t.decode(t.encode(s, false, false))).as(name + ": " + s).isEqualTo(s);
            }
        }
    }
}
