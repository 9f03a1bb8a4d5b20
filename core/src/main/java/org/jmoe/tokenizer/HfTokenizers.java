package org.jmoe.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.JmoeException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Tokenizers shipped beside Hugging Face checkpoints: {@code tokenizer.json} (a BPE model with a ByteLevel
 * pre-tokenizer, or Metaspace with byte fallback, plus {@code added_tokens}) and SentencePiece's
 * {@code tokenizer.model} (the ModelProto protobuf, parsed here by hand).
 */
public final class HfTokenizers {
    private HfTokenizers() {}

    /** The checkpoint's tokenizer: tokenizer.json, else tokenizer.model, else null. */
    public static Tokenizer fromDirectory(Path dir, int bos, int eos) {
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) return fromTokenizerJson(dir.resolve("tokenizer.json"), bos, eos);
        if (Files.isRegularFile(dir.resolve("tokenizer.model"))) return fromSentencePiece(dir.resolve("tokenizer.model"), bos, eos);
        return null;
    }

    public static Tokenizer fromTokenizerJson(Path file, int bos, int eos) {
        String who = file.toString();
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            throw new JmoeException(who, "malformed JSON: " + e.getOriginalMessage(), "line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr());
        } catch (IOException e) {
            throw new JmoeException(who, "cannot read: " + e.getMessage());
        }
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText("BPE")) || !model.path("vocab").isObject()) {
            throw new JmoeException(who, "only BPE models with a vocab are supported, found '" + model.path("type").asText("?") + "'", "field model.type");
        }
        Map<Integer, String> byId = new HashMap<>();
        Map<Integer, Integer> types = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = model.get("vocab").properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) throw new JmoeException(who, "token id must be a non-negative integer", "field model.vocab." + e.getKey());
            byId.put(e.getValue().asInt(), e.getKey());
        }
        for (JsonNode a : root.path("added_tokens")) {
            if (!a.has("id") || !a.has("content")) throw new JmoeException(who, "added token needs id and content", "field added_tokens");
            byId.put(a.get("id").asInt(), a.get("content").asText());
            types.put(a.get("id").asInt(), a.path("special").asBoolean(false) ? Vocab.CONTROL : Vocab.USER_DEFINED);
        }
        int n = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        if (n == 0) throw new JmoeException(who, "empty vocabulary", "field model.vocab");
        if (n > byId.size() * 2L + 1024) throw new JmoeException(who, "token ids are sparse: largest " + (n - 1) + " for " + byId.size() + " tokens", "field model.vocab");
        String[] tokens = new String[n];
        int[] ty = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = byId.getOrDefault(i, "[UNUSED" + i + "]");
            ty[i] = byId.containsKey(i) ? types.getOrDefault(i, Vocab.NORMAL) : Vocab.UNUSED;
            if (tokens[i].length() == 6 && tokens[i].startsWith("<0x") && tokens[i].endsWith(">") && ty[i] == Vocab.NORMAL) ty[i] = Vocab.BYTE;
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) {
            if (m.isTextual()) merges.add(m.asText());
            else if (m.isArray() && m.size() == 2) merges.add(m.get(0).asText() + " " + m.get(1).asText());
            else throw new JmoeException(who, "merge must be \"a b\" or [\"a\", \"b\"], got " + m, "field model.merges");
        }
        int unk = model.hasNonNull("unk_token") && byId.containsValue(model.get("unk_token").asText())
                ? indexOf(tokens, model.get("unk_token").asText()) : -1;
        Vocab v = new Vocab(who, tokens, ty, bos < n ? bos : -1, eos < n ? eos : -1, -1, unk);
        String json = root.path("pre_tokenizer").toString() + root.path("decoder").toString();
        if (json.contains("Metaspace") || model.path("byte_fallback").asBoolean(false)) {
            // SentencePiece-style BPE: merge order by rank equals merging the best-scored result first.
            float[] scores = new float[n];
            java.util.Arrays.fill(scores, -1e9f);
            for (int r = 0; r < merges.size(); r++) {
                Integer id = v.ids.get(merges.get(r).replace(" ", ""));
                if (id != null && scores[id] == -1e9f) scores[id] = -r;
            }
            return new SpmTokenizer(v, scores, json.contains("\"prepend_scheme\":\"always\"") || json.contains("add_prefix_space\":true") || json.contains("Prepend"), bos >= 0);
        }
        String regex = BpeTokenizer.GPT2;
        for (JsonNode p : root.path("pre_tokenizer").path("pretokenizers")) {
            if ("Split".equals(p.path("type").asText()) && p.path("pattern").has("Regex")) {
                regex = p.path("pattern").path("Regex").asText();
                break;
            }
        }
        try {
            return new BpeTokenizer(v, merges.toArray(new String[0]), regex, false);
        } catch (java.util.regex.PatternSyntaxException e) {
            throw new JmoeException(who, "pre-tokenizer regex not supported: " + e.getDescription(), "field pre_tokenizer");
        }
    }

    private static int indexOf(String[] a, String s) {
        for (int i = 0; i < a.length; i++) if (a[i].equals(s)) return i;
        return -1;
    }

    /** Parses SentencePiece's ModelProto: pieces (field 1: piece, score, type), trainer and normalizer specs. */
    public static Tokenizer fromSentencePiece(Path file, int bos, int eos) {
        String who = file.toString();
        byte[] b;
        try {
            if (Files.size(file) > (1L << 30)) throw new JmoeException(who, "absurd size for a tokenizer model: " + Files.size(file) + " bytes");
            b = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new JmoeException(who, "cannot read: " + e.getMessage());
        }
        Proto p = new Proto(who, b, 0, b.length);
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        boolean addDummyPrefix = true;
        int unk = 0;
        int bosId = bos, eosId = eos;
        while (p.more()) {
            int key = (int) p.varint();
            int field = key >>> 3, wire = key & 7;
            if (field == 1 && wire == 2) {
                Proto sp = p.sub();
                String piece = null;
                float score = 0;
                int type = 1;
                while (sp.more()) {
                    int k2 = (int) sp.varint();
                    switch (k2) {
                        case (1 << 3) | 2 -> piece = sp.string();
                        case (2 << 3) | 5 -> score = sp.fixed32();
                        case (3 << 3) -> type = (int) sp.varint();
                        default -> sp.skip(k2 & 7);
                    }
                }
                if (piece == null) throw new JmoeException(who, "piece without text", "piece #" + pieces.size());
                pieces.add(piece);
                scores.add(score);
                types.add(type);
            } else if (field == 2 && wire == 2) {
                Proto ts = p.sub();
                while (ts.more()) {
                    int k2 = (int) ts.varint();
                    switch (k2) {
                        case (40 << 3) -> unk = (int) ts.varint();
                        case (41 << 3) -> { int v = (int) ts.varint(); if (bosId < 0) bosId = v; }
                        case (42 << 3) -> { int v = (int) ts.varint(); if (eosId < 0) eosId = v; }
                        default -> ts.skip(k2 & 7);
                    }
                }
            } else if (field == 3 && wire == 2) {
                Proto ns = p.sub();
                while (ns.more()) {
                    int k2 = (int) ns.varint();
                    if (k2 == (3 << 3)) addDummyPrefix = ns.varint() != 0;
                    else ns.skip(k2 & 7);
                }
            } else {
                p.skip(wire);
            }
        }
        if (pieces.isEmpty()) throw new JmoeException(who, "no pieces: not a SentencePiece model");
        int n = pieces.size();
        float[] sc = new float[n];
        int[] ty = new int[n];
        for (int i = 0; i < n; i++) {
            sc[i] = scores.get(i);
            ty[i] = types.get(i);
            if (ty[i] < 1 || ty[i] > 6) throw new JmoeException(who, "unknown piece type " + ty[i], "piece #" + i);
        }
        Vocab v = new Vocab(who, pieces.toArray(new String[0]), ty, bosId < n ? bosId : -1, eosId < n ? eosId : -1, -1, unk < n ? unk : -1);
        return new SpmTokenizer(v, sc, addDummyPrefix, bosId >= 0);
    }

    /** A bounds-checked protobuf reader over {@code b[pos..end)}. */
    private static final class Proto {
        final String who;
        final byte[] b;
        int pos;
        final int end;

        Proto(String who, byte[] b, int pos, int end) {
            this.who = who;
            this.b = b;
            this.pos = pos;
            this.end = end;
        }

        boolean more() { return pos < end; }

        JmoeException corrupt(String what) {
            return new JmoeException(who, "corrupt SentencePiece model: " + what, "byte offset " + pos);
        }

        long varint() {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) throw corrupt("truncated varint");
                int x = b[pos++];
                v |= (long) (x & 0x7f) << shift;
                if (x >= 0) return v;
            }
            throw corrupt("varint too long");
        }

        Proto sub() {
            long len = varint();
            if (len < 0 || len > end - pos) throw corrupt("length " + len + " exceeds the " + (end - pos) + " bytes left");
            Proto p = new Proto(who, b, pos, pos + (int) len);
            pos += (int) len;
            return p;
        }

        String string() {
            Proto s = sub();
            return new String(b, s.pos, s.end - s.pos, StandardCharsets.UTF_8);
        }

        float fixed32() {
            if (end - pos < 4) throw corrupt("truncated float");
            float f = ByteBuffer.wrap(b, pos, 4).order(ByteOrder.LITTLE_ENDIAN).getFloat();
            pos += 4;
            return f;
        }

        void skip(int wire) {
            switch (wire) {
                case 0 -> varint();
                case 1 -> { if (end - pos < 8) throw corrupt("truncated field"); pos += 8; }
                case 2 -> sub();
                case 5 -> { if (end - pos < 4) throw corrupt("truncated field"); pos += 4; }
                default -> throw corrupt("unknown wire type " + wire);
            }
        }
    }
}
