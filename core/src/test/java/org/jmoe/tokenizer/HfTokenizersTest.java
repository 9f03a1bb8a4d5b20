package org.jmoe.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;
import org.jmoe.Reference;
import org.jmoe.format.GgufFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HfTokenizersTest {
    @TempDir
    Path dir;

    static final String[] SAMPLES = {"the cat in the hat", "  spaces  and\ttabs\n", "héllo wörld ✓ 你好", "<|im_start|>user hi<|im_end|>", "it's 1234 o'clock!"};

    /** tokenizer.json written from the reference GGUF vocabulary tokenizes exactly like the GGUF tokenizer. */
    @Test
    void tokenizerJsonMatchesTheGgufVocabulary() throws Exception {
        Tokenizer gguf;
        ObjectNode root = new ObjectMapper().createObjectNode();
        try (GgufFile f = GgufFile.open(Reference.model("llama_moe.gguf"))) {
            gguf = Tokenizers.fromGguf("ref", f.metadata());
            String[] tokens = (String[]) f.get("tokenizer.ggml.tokens");
            long[] types = (long[]) f.get("tokenizer.ggml.token_type");
            ObjectNode model = root.putObject("model");
            model.put("type", "BPE");
            ObjectNode vocab = model.putObject("vocab");
            ArrayNode added = root.putArray("added_tokens");
            for (int i = 0; i < tokens.length; i++) {
                if (types[i] == 3) added.addObject().put("id", i).put("content", tokens[i]).put("special", true);
                else vocab.put(tokens[i], i);
            }
            ArrayNode merges = model.putArray("merges");
            int k = 0;
            for (String m : (String[]) f.get("tokenizer.ggml.merges")) {
                if (k++ % 2 == 0) merges.add(m);
                else merges.addArray().add(m.split(" ")[0]).add(m.split(" ")[1]); // both merge forms
            }
            root.putObject("pre_tokenizer").put("type", "ByteLevel");
        }
        Path p = dir.resolve("tokenizer.json");
        Files.writeString(p, root.toString());
        Tokenizer hf = HfTokenizers.fromDirectory(dir, -1, -1);
        for (String s : SAMPLES) {
            assertThat(hf.encode(s, false)).as(s).containsExactly(gguf.encode(s, false));
            assertThat(hf.decode(hf.encode(s, false))).isEqualTo(s.replace("<|im_start|>", "").replace("<|im_end|>", ""));
        }
    }

    static void varint(ByteArrayOutputStream o, long v) {
        while ((v & ~0x7fL) != 0) { o.write((int) ((v & 0x7f) | 0x80)); v >>>= 7; }
        o.write((int) v);
    }

    static void bytesField(ByteArrayOutputStream o, int field, byte[] b) {
        varint(o, (field << 3) | 2);
        varint(o, b.length);
        o.writeBytes(b);
    }

    /** A tokenizer.model encoded by hand (protobuf wire format) gives the SentencePiece tokenizer of the same vocabulary. */
    @Test
    void sentencePieceModelMatchesTheEquivalentGgufVocabulary() throws Exception {
        Tokenizer ref = TokenizerTest.spm();
        ByteArrayOutputStream model = new ByteArrayOutputStream();
        for (int i = 0; i < ref.vocabSize(); i++) {
            ByteArrayOutputStream piece = new ByteArrayOutputStream();
            bytesField(piece, 1, ref.token(i).getBytes(StandardCharsets.UTF_8));
            varint(piece, (2 << 3) | 5);
            float score = i < 259 ? 0f : new float[]{-1, -2, -2, -2, -2, -3, -4, -3, -5, -6, -7, -2, -2, -2, -3, -3, -4, -3}[i - 259];
            piece.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(score).array());
            int type = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
            if (type != 1) { varint(piece, 3 << 3); varint(piece, type); }
            bytesField(model, 1, piece.toByteArray());
        }
        ByteArrayOutputStream trainer = new ByteArrayOutputStream();
        varint(trainer, 40 << 3); varint(trainer, 0);
        varint(trainer, 41 << 3); varint(trainer, 1);
        varint(trainer, 42 << 3); varint(trainer, 2);
        bytesField(model, 2, trainer.toByteArray());
        Path p = dir.resolve("tokenizer.model");
        Files.write(p, model.toByteArray());
        Tokenizer sp = HfTokenizers.fromDirectory(dir, -1, -1);
        for (String s : new String[]{"hello", "hello world", "hé world", "wor ld"}) {
            assertThat(sp.encode(s, true)).as(s).containsExactly(ref.encode(s, true));
            assertThat(sp.decode(sp.encode(s, true))).isEqualTo(s);
        }
        // truncations are clear errors naming a byte offset
        byte[] all = model.toByteArray();
        for (int cut : new int[]{1, 7, 100, all.length - 3}) {
            Files.write(p, java.util.Arrays.copyOf(all, cut));
            assertThatThrownBy(() -> HfTokenizers.fromSentencePiece(p, -1, -1)).isInstanceOf(JmoeException.class)
                    .hasMessageContaining("tokenizer.model").hasMessageContaining("byte offset");
        }
    }

    @Test
    void malformedTokenizerJson() throws Exception {
        Path p = dir.resolve("tokenizer.json");
        Files.writeString(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [1]}}");
        assertThatThrownBy(() -> HfTokenizers.fromTokenizerJson(p, -1, -1)).hasMessageContaining("field model.merges");
        Files.writeString(p, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
        assertThatThrownBy(() -> HfTokenizers.fromTokenizerJson(p, -1, -1)).hasMessageContaining("WordPiece");
        Files.writeString(p, "{\"model\": ");
        assertThatThrownBy(() -> HfTokenizers.fromTokenizerJson(p, -1, -1)).hasMessageContaining("malformed JSON");
    }
}
