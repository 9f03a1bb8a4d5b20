package org.jmoe.tokenizer;

import org.jmoe.JmoeException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Builds the tokenizer a checkpoint describes. */
public final class Tokenizers {
    private Tokenizers() {}

    private static final String KEY = "key tokenizer.ggml.%s";

    /** {@link #fromGguf(String, Map)} with errors naming the file as "gguf". */
    public static Tokenizer fromGguf(Map<String, Object> meta) {
        return fromGguf("gguf", meta);
    }

    /**
     * The tokenizer described by GGUF metadata ({@code tokenizer.ggml.*}), or null when there is none
     * ({@code tokenizer.ggml.model} absent or {@code "none"}). Value types: integers are Long, float32 Float,
     * strings String, arrays String[] / long[] / float[]. {@code who} names the file in errors.
     */
    public static Tokenizer fromGguf(String who, Map<String, Object> meta) {
        Object model = meta.get("tokenizer.ggml.model");
        if (model == null || "none".equals(model)) return null;
        if (!(model instanceof String)) throw new JmoeException(who, "tokenizer model must be a string, found " + typeName(model), "key tokenizer.ggml.model");
        String[] tokens = array(who, meta, "tokens", String[].class, true);
        long[] tt = array(who, meta, "token_type", long[].class, false);
        int[] types = null;
        if (tt != null) {
            types = new int[tt.length];
            for (int i = 0; i < tt.length; i++) types[i] = tt[i] < 0 || tt[i] > 6 ? 0 : (int) tt[i];
        }
        boolean spm = "llama".equals(model);
        if (!spm && !"gpt2".equals(model)) {
            throw new JmoeException(who, "unsupported tokenizer model '" + model + "' (jmoe reads gpt2 and llama)", "key tokenizer.ggml.model");
        }
        // SentencePiece vocabularies default to <unk>=0, <s>=1, </s>=2 when the ids are not given
        int bos = id(who, meta, "bos_token_id", spm && tokens.length > 1 ? 1 : -1);
        int eos = id(who, meta, "eos_token_id", spm && tokens.length > 2 ? 2 : -1);
        int eot = id(who, meta, "eot_token_id", -1);
        int unk = id(who, meta, "unknown_token_id", spm ? 0 : -1);
        int pad = id(who, meta, "padding_token_id", -1);
        if (pad >= tokens.length) throw new JmoeException(who, pad + " is not a token id (vocabulary of " + tokens.length + ")", "key tokenizer.ggml.padding_token_id");
        Vocab v = new Vocab(who, tokens, types, bos, eos, eot, unk, KEY);
        if (spm) {
            float[] scores = array(who, meta, "scores", float[].class, false);
            if (scores != null && scores.length != tokens.length) {
                throw new JmoeException(who, "scores has " + scores.length + " entries for " + tokens.length + " tokens", "key tokenizer.ggml.scores");
            }
            return new SpmTokenizer(v, scores, bool(who, meta, "add_space_prefix", true), bool(who, meta, "add_bos_token", true));
        }
        String[] merges = array(who, meta, "merges", String[].class, true);
        Object preObj = meta.get("tokenizer.ggml.pre");
        if (preObj != null && !(preObj instanceof String)) throw new JmoeException(who, "pre-tokenizer name must be a string, found " + typeName(preObj), "key tokenizer.ggml.pre");
        String pre = (String) preObj;
        PreTokenizer.Named named = PreTokenizer.forGgufPre(pre);
        BpeTokenizer.Config cfg = new BpeTokenizer.Config();
        cfg.pre = PreTokenizer.regexes(named.regexes());
        cfg.ignoreMerges = named.ignoreMerges();
        boolean llama3 = named.ignoreMerges() && named.regexes()[0].equals(PreTokenizer.LLAMA3);
        cfg.addBos = bool(who, meta, "add_bos_token", llama3);
        BpeTokenizer t = new BpeTokenizer(v, BpeTokenizer.splitMerges(merges), cfg);
        if (!named.known()) t.notes.add("unknown pre-tokenizer '" + pre + "': using GPT-2's; encodings may differ from the model's own tokenizer");
        return t;
    }

    /** A Hugging Face {@code tokenizer.json} with a BPE model; special ids as the file itself tells them. */
    public static Tokenizer fromTokenizerJson(Path file) {
        return TokenizerJson.load(file, null, -1, -1);
    }

    /** A SentencePiece {@code tokenizer.model} (ModelProto). */
    public static Tokenizer fromSentencePieceModel(Path file) {
        return SentencePieceModel.load(file, -1, -1);
    }

    /** A Hugging Face checkpoint directory's tokenizer: tokenizer.json, else tokenizer.model, else null (none). */
    public static Tokenizer fromDirectory(Path dir) {
        return fromDirectory(dir, -1, -1);
    }

    /**
     * As {@link #fromDirectory(Path)}; {@code bos} / {@code eos} (e.g. from config.json, -1 when unknown) are
     * used where tokenizer_config.json and the tokenizer file do not name them.
     */
    public static Tokenizer fromDirectory(Path dir, int bos, int eos) {
        Path json = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(json)) {
            Path cfg = dir.resolve("tokenizer_config.json");
            return TokenizerJson.load(json, Files.isRegularFile(cfg) ? cfg : null, bos, eos);
        }
        Path model = dir.resolve("tokenizer.model");
        if (Files.isRegularFile(model)) return SentencePieceModel.load(model, bos, eos);
        return null;
    }

    static String typeName(Object o) {
        return o == null ? "nothing" : o.getClass().getSimpleName();
    }

    private static <T> T array(String who, Map<String, Object> meta, String key, Class<T> type, boolean required) {
        Object o = meta.get("tokenizer.ggml." + key);
        if (o == null) {
            if (required) throw new JmoeException(who, "missing " + key.replace('_', ' '), "key tokenizer.ggml." + key);
            return null;
        }
        if (!type.isInstance(o)) {
            throw new JmoeException(who, "expected an array of " + type.getComponentType().getSimpleName() + ", found " + typeName(o), "key tokenizer.ggml." + key);
        }
        return type.cast(o);
    }

    private static int id(String who, Map<String, Object> meta, String key, int dflt) {
        Object o = meta.get("tokenizer.ggml." + key);
        if (o == null) return dflt;
        if (!(o instanceof Long l)) throw new JmoeException(who, "expected an integer, found " + typeName(o), "key tokenizer.ggml." + key);
        if (l == -1 || l == 0xFFFFFFFFL) return -1; // "none", written as int32 -1 or uint32 max
        if (l < -1 || l > Integer.MAX_VALUE) throw new JmoeException(who, l + " is not a token id", "key tokenizer.ggml." + key);
        return (int) (long) l;
    }

    private static boolean bool(String who, Map<String, Object> meta, String key, boolean dflt) {
        Object o = meta.get("tokenizer.ggml." + key);
        if (o == null) return dflt;
        if (!(o instanceof Boolean b)) throw new JmoeException(who, "expected a bool, found " + typeName(o), "key tokenizer.ggml." + key);
        return b;
    }
}
