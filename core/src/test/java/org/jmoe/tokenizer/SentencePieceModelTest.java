package org.jmoe.tokenizer;

import org.jmoe.JmoeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SentencePieceModelTest {
    @TempDir
    Path dir;

    static void varint(ByteArrayOutputStream o, long v) {
        while ((v & ~0x7fL) != 0) {
            o.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        o.write((int) v);
    }

    static void key(ByteArrayOutputStream o, int field, int wire) { varint(o, ((long) field << 3) | wire); }

    static void bytes(ByteArrayOutputStream o, int field, byte[] b) {
        key(o, field, 2);
        varint(o, b.length);
        o.writeBytes(b);
    }

    static void float32(ByteArrayOutputStream o, int field, float f) {
        key(o, field, 5);
        int bits = Float.floatToIntBits(f);
        for (int i = 0; i < 4; i++) o.write(bits >>> (8 * i));
    }

    static byte[] piece(String text, float score, int type) {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        bytes(p, 1, text.getBytes(StandardCharsets.UTF_8));
        float32(p, 2, score);
        if (type != 1) { key(p, 3, 0); varint(p, type); } // NORMAL is the default and left out
        return p.toByteArray();
    }

    /** The vocabulary of {@link SpmTokenizerTest} as a ModelProto, written field by field in the wire format. */
    static byte[] model(boolean addDummyPrefix) {
        ByteArrayOutputStream m = new ByteArrayOutputStream();
        bytes(m, 1, piece("<unk>", 0, 2));
        bytes(m, 1, piece("<s>", 0, 3));
        bytes(m, 1, piece("</s>", 0, 3));
        for (int b = 0; b < 256; b++) bytes(m, 1, piece(String.format("<0x%02X>", b), 0, 6));
        for (int i = 0; i < SpmTokenizerTest.PIECES.length; i++) bytes(m, 1, piece(SpmTokenizerTest.PIECES[i], SpmTokenizerTest.SCORES[i], 1));
        ByteArrayOutputStream trainer = new ByteArrayOutputStream();
        bytes(trainer, 1, "corpus.txt".getBytes(StandardCharsets.UTF_8)); // a field the reader skips
        key(trainer, 3, 0); varint(trainer, 2);       // model_type = BPE
        key(trainer, 35, 0); varint(trainer, 1);      // byte_fallback
        key(trainer, 40, 0); varint(trainer, 0);      // unk_id
        key(trainer, 41, 0); varint(trainer, 1);      // bos_id
        key(trainer, 42, 0); varint(trainer, 2);      // eos_id
        key(trainer, 43, 0); varint(trainer, -1L);    // pad_id = -1: ten bytes
        bytes(m, 2, trainer.toByteArray());
        ByteArrayOutputStream norm = new ByteArrayOutputStream();
        bytes(norm, 1, "identity".getBytes(StandardCharsets.UTF_8));
        key(norm, 3, 0); varint(norm, addDummyPrefix ? 1 : 0);
        key(norm, 4, 0); varint(norm, 0);             // remove_extra_whitespaces = false
        bytes(m, 3, norm.toByteArray());
        return m.toByteArray();
    }

    Tokenizer load(byte[] b) throws Exception {
        Path p = dir.resolve("tokenizer.model");
        Files.write(p, b);
        return Tokenizers.fromSentencePieceModel(p);
    }

    @Test
    void handEncodedModelTokenizesAsTheSameGgufVocabulary() throws Exception {
        Tokenizer sp = load(model(true));
        Tokenizer gguf = SpmTokenizerTest.spm();
        assertThat(sp.vocabSize()).isEqualTo(277);
        assertThat(sp.notes()).isEmpty();
        assertThat(sp.bosId()).isEqualTo(1);
        assertThat(sp.eosId()).isEqualTo(2);
        assertThat(sp.token(3 + 0x41)).isEqualTo("<0x41>");
        // the hand-worked encodings of SpmTokenizerTest
        assertThat(sp.encode("hello world", true)).containsExactly(1, sp.tokenId("▁hello"), sp.tokenId("▁wor"), sp.tokenId("ld"));
        assertThat(sp.encode("hé", false)).containsExactly(sp.tokenId("▁h"), 3 + 0xC3, 3 + 0xA9);
        for (String s : new String[]{"hello", "hello world", "hé world", "wor ld", "  x\n😀", "<s>hi</s>"}) {
            assertThat(sp.encode(s, true)).as(s).containsExactly(gguf.encode(s, true));
            assertThat(sp.decode(sp.encode(s, true, false))).isEqualTo(s);
        }
        // add_dummy_prefix = false: no ▁ in front
        Tokenizer noPrefix = load(model(false));
        assertThat(noPrefix.encode("hello", false)).containsExactly(noPrefix.tokenId("he"), noPrefix.tokenId("llo"));
    }

    @Test
    void fromDirectoryFallsBackToTokenizerModel() throws Exception {
        Files.write(dir.resolve("tokenizer.model"), model(true));
        Tokenizer t = Tokenizers.fromDirectory(dir);
        assertThat(t).isInstanceOf(SpmTokenizer.class);
        assertThat(Tokenizers.fromDirectory(dir, 2, 1).bosId()).isEqualTo(2); // config.json's ids win
    }

    @Test
    void unigramModelsCarryANote() throws Exception {
        ByteArrayOutputStream m = new ByteArrayOutputStream();
        bytes(m, 1, piece("<unk>", 0, 2));
        bytes(m, 1, piece("a", -1, 1));
        Tokenizer t = load(m.toByteArray()); // no trainer_spec: model_type defaults to UNIGRAM
        assertThat(t.notes()).anyMatch(s -> s.contains("not BPE"));
        assertThat(t.bosId()).isEqualTo(1);  // default bos_id 1 exists
        assertThat(t.eosId()).isEqualTo(-1); // default eos_id 2 does not: none
    }

    @Test
    void truncatedModelsNameTheByteOffset() throws Exception {
        byte[] all = model(true);
        Path p = dir.resolve("tokenizer.model");
        int refused = 0;
        for (int cut = 0; cut < all.length; cut++) {
            try {
                Tokenizer t = SentencePieceModel.parse("tokenizer.model", Arrays.copyOf(all, cut), -1, -1);
                assertThat(t.vocabSize()).isLessThanOrEqualTo(277); // cut at a field boundary: a shorter, valid model
            } catch (JmoeException e) {
                assertThat(e.getMessage()).startsWith("tokenizer.model: ").contains("byte offset ");
                refused++;
            }
        }
        assertThat(refused).isGreaterThan(all.length * 3 / 4);
        // inside the first piece: its declared length runs past the end
        Files.write(p, Arrays.copyOf(all, 5));
        assertThatThrownBy(() -> Tokenizers.fromSentencePieceModel(p))
                .hasMessageContaining("pieces of 14 bytes but only 3 left").hasMessageContaining("(byte offset 1)");
    }

    @Test
    void corruptModels() throws Exception {
        // score sent as a varint (wire type 0) instead of fixed32
        ByteArrayOutputStream m = new ByteArrayOutputStream();
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        bytes(p, 1, "a".getBytes(StandardCharsets.UTF_8));
        key(p, 2, 0); varint(p, 3);
        bytes(m, 1, p.toByteArray());
        assertThatThrownBy(() -> load(m.toByteArray())).isInstanceOf(JmoeException.class)
                .hasMessageContaining("field score has wire type 0, expected 5").hasMessageContaining("byte offset 5");
        // a piece that is not UTF-8
        m.reset();
        bytes(m, 1, new byte[]{0x0a, 2, (byte) 0xC3, 0x28});
        assertThatThrownBy(() -> load(m.toByteArray())).hasMessageContaining("piece is not valid UTF-8").hasMessageContaining("byte offset 4");
        // an unknown piece type
        m.reset();
        bytes(m, 1, piece("a", 0, 9));
        assertThatThrownBy(() -> load(m.toByteArray())).hasMessageContaining("piece #0 has unknown type 9");
        // a varint of eleven bytes
        byte[] longVarint = new byte[12];
        Arrays.fill(longVarint, (byte) 0x80);
        assertThatThrownBy(() -> load(longVarint)).hasMessageContaining("varint longer than 10 bytes").hasMessageContaining("byte offset 0");
        // wire types 6 and 7 do not exist
        assertThatThrownBy(() -> load(new byte[]{0x26})).hasMessageContaining("unknown wire type 6").hasMessageContaining("byte offset 0");
        // nothing but unknown fields: no pieces
        assertThatThrownBy(() -> load(new byte[]{0x20, 0x01})).hasMessageContaining("no pieces");
        // bos_id beyond the pieces
        m.reset();
        bytes(m, 1, piece("<unk>", 0, 2));
        ByteArrayOutputStream trainer = new ByteArrayOutputStream();
        key(trainer, 41, 0); varint(trainer, 7);
        bytes(m, 2, trainer.toByteArray());
        assertThatThrownBy(() -> load(m.toByteArray())).hasMessageContaining("7 is not a piece id (1 pieces)").hasMessageContaining("trainer_spec.bos_id");
    }
}
