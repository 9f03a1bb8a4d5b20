package org.jmoe.tokenizer;

import org.jmoe.JmoeException;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads SentencePiece's {@code tokenizer.model}, a serialized {@code ModelProto}, with a hand-written protobuf
 * wire-format reader. Fields used:
 * <pre>
 * ModelProto     { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2; NormalizerSpec normalizer_spec = 3; }
 * SentencePiece  { string piece = 1; float score = 2; Type type = 3 (1 NORMAL .. 6 BYTE); }
 * TrainerSpec    { ModelType model_type = 3; bool byte_fallback = 35; int32 unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43; }
 * NormalizerSpec { bool add_dummy_prefix = 3; bool remove_extra_whitespaces = 4; }
 * </pre>
 * Every length is checked against the bytes left; a truncated or corrupt file is an error naming the byte
 * offset. Other fields are skipped by their wire type.
 */
final class SentencePieceModel {
    private static final int VARINT = 0, I64 = 1, LEN = 2, I32 = 5;

    private SentencePieceModel() {}

    static Tokenizer load(Path file, int bosArg, int eosArg) {
        String who = file.toString();
        byte[] b;
        try {
            long size = Files.size(file);
            if (size > (1L << 30)) throw new JmoeException(who, "too large for a tokenizer model: " + size + " bytes");
            b = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new JmoeException(who, "cannot read: " + e.getMessage());
        }
        return parse(who, b, bosArg, eosArg);
    }

    static Tokenizer parse(String who, byte[] b, int bosArg, int eosArg) {
        Reader r = new Reader(who, b, 0, b.length);
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        int modelType = 1;
        int unk = 0, bos = 1, eos = 2;
        boolean[] explicit = new boolean[3];
        boolean addDummyPrefix = true, removeExtraWhitespaces = true, whitespaceAsSuffix = false;
        while (r.more()) {
            int at = r.pos;
            long key = r.varint();
            int field = (int) (key >>> 3), wire = (int) (key & 7);
            if (field == 1) {
                Reader p = r.message(wire, at, "pieces");
                String piece = null;
                float score = 0;
                int type = Vocab.NORMAL;
                while (p.more()) {
                    int at2 = p.pos;
                    long k = p.varint();
                    switch ((int) (k >>> 3)) {
                        case 1 -> piece = p.string((int) (k & 7), at2, "piece");
                        case 2 -> score = p.float32((int) (k & 7), at2, "score");
                        case 3 -> type = (int) p.integer((int) (k & 7), at2, "type");
                        default -> p.skip((int) (k & 7), at2);
                    }
                }
                if (piece == null) throw new JmoeException(who, "piece #" + pieces.size() + " has no text", "byte offset " + at);
                if (type < Vocab.NORMAL || type > Vocab.BYTE) throw new JmoeException(who, "piece #" + pieces.size() + " has unknown type " + type, "byte offset " + at);
                pieces.add(piece);
                scores.add(score);
                types.add(type);
            } else if (field == 2) {
                Reader t = r.message(wire, at, "trainer_spec");
                while (t.more()) {
                    int at2 = t.pos;
                    long k = t.varint();
                    int w = (int) (k & 7);
                    switch ((int) (k >>> 3)) {
                        case 3 -> modelType = (int) t.integer(w, at2, "model_type");
                        case 24 -> whitespaceAsSuffix = t.integer(w, at2, "treat_whitespace_as_suffix") != 0;
                        case 35 -> t.integer(w, at2, "byte_fallback"); // byte pieces are used whenever present
                        case 40 -> { unk = (int) t.integer(w, at2, "unk_id"); explicit[0] = true; }
                        case 41 -> { bos = (int) t.integer(w, at2, "bos_id"); explicit[1] = true; }
                        case 42 -> { eos = (int) t.integer(w, at2, "eos_id"); explicit[2] = true; }
                        default -> t.skip(w, at2);
                    }
                }
            } else if (field == 3) {
                Reader ns = r.message(wire, at, "normalizer_spec");
                while (ns.more()) {
                    int at2 = ns.pos;
                    long k = ns.varint();
                    int w = (int) (k & 7);
                    switch ((int) (k >>> 3)) {
                        case 3 -> addDummyPrefix = ns.integer(w, at2, "add_dummy_prefix") != 0;
                        case 4 -> removeExtraWhitespaces = ns.integer(w, at2, "remove_extra_whitespaces") != 0;
                        default -> ns.skip(w, at2);
                    }
                }
            } else {
                r.skip(wire, at);
            }
        }
        if (pieces.isEmpty()) throw new JmoeException(who, "no pieces: not a SentencePiece model", "byte offset 0");
        int n = pieces.size();
        float[] sc = new float[n];
        int[] ty = new int[n];
        for (int i = 0; i < n; i++) {
            sc[i] = scores.get(i);
            ty[i] = types.get(i);
        }
        // defaults (unk 0, bos 1, eos 2) that a small vocabulary lacks mean "none"; explicit ids must exist
        int[] ids = {unk, bos, eos};
        String[] names = {"unk_id", "bos_id", "eos_id"};
        for (int i = 0; i < 3; i++) {
            if (ids[i] < n) continue;
            if (explicit[i]) throw new JmoeException(who, ids[i] + " is not a piece id (" + n + " pieces)", "field trainer_spec." + names[i]);
            ids[i] = -1;
        }
        unk = ids[0];
        bos = bosArg >= 0 ? bosArg : ids[1];
        eos = eosArg >= 0 ? eosArg : ids[2];
        Vocab v = new Vocab(who, pieces.toArray(new String[0]), ty, bos, eos, -1, unk, "field trainer_spec.%s");
        SpmTokenizer t = new SpmTokenizer(v, sc, addDummyPrefix, true);
        if (modelType != 2) t.notes.add("model type " + modelType + " (not BPE): tokenized by highest-score merging, which approximates it");
        if (removeExtraWhitespaces) t.notes.add("remove_extra_whitespaces is set but whitespace is kept as written (as llama.cpp does)");
        if (whitespaceAsSuffix) t.notes.add("treat_whitespace_as_suffix is not supported: ▁ is used as a prefix");
        return t;
    }

    /** A bounds-checked protobuf reader over {@code b[pos..end)}. */
    private static final class Reader {
        final String who;
        final byte[] b;
        int pos;
        final int end;

        Reader(String who, byte[] b, int pos, int end) {
            this.who = who;
            this.b = b;
            this.pos = pos;
            this.end = end;
        }

        boolean more() { return pos < end; }

        JmoeException corrupt(String what, int at) {
            return new JmoeException(who, "truncated or corrupt SentencePiece model: " + what, "byte offset " + at);
        }

        long varint() {
            int at = pos;
            long v = 0;
            for (int shift = 0; shift < 70; shift += 7) {
                if (pos >= end) throw corrupt("varint runs past the end", at);
                int x = b[pos++];
                if (shift == 63 && (x & 0x7e) != 0) throw corrupt("varint overflows 64 bits", at);
                v |= (long) (x & 0x7f) << shift;
                if (x >= 0) return v;
            }
            throw corrupt("varint longer than 10 bytes", at);
        }

        private void expect(int wire, int want, int at, String name) {
            if (wire != want) throw corrupt("field " + name + " has wire type " + wire + ", expected " + want, at);
        }

        Reader message(int wire, int at, String name) {
            expect(wire, LEN, at, name);
            return sub(name);
        }

        private Reader sub(String name) {
            int at = pos;
            long len = varint();
            if (len < 0 || len > end - pos) throw corrupt(name + " of " + len + " bytes but only " + (end - pos) + " left", at);
            Reader r = new Reader(who, b, pos, pos + (int) len);
            pos += (int) len;
            return r;
        }

        String string(int wire, int at, String name) {
            expect(wire, LEN, at, name);
            Reader s = sub(name);
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(b, s.pos, s.end - s.pos)).toString();
            } catch (CharacterCodingException e) {
                throw corrupt(name + " is not valid UTF-8", s.pos);
            }
        }

        float float32(int wire, int at, String name) {
            expect(wire, I32, at, name);
            if (end - pos < 4) throw corrupt(name + " runs past the end", pos);
            int bits = (b[pos] & 0xff) | (b[pos + 1] & 0xff) << 8 | (b[pos + 2] & 0xff) << 16 | (b[pos + 3] & 0xff) << 24;
            pos += 4;
            return Float.intBitsToFloat(bits);
        }

        long integer(int wire, int at, String name) {
            expect(wire, VARINT, at, name);
            return varint();
        }

        void skip(int wire, int at) {
            switch (wire) {
                case VARINT -> varint();
                case I64 -> { if (end - pos < 8) throw corrupt("fixed64 field runs past the end", at); pos += 8; }
                case LEN -> sub("field");
                case I32 -> { if (end - pos < 4) throw corrupt("fixed32 field runs past the end", at); pos += 4; }
                default -> throw corrupt("unknown wire type " + wire, at);
            }
        }
    }
}
