package org.jmoe.tokenizer;

import org.jmoe.JmoeException;

import java.util.Map;

/** Builds the tokenizer a checkpoint describes. */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * From GGUF metadata ({@code tokenizer.ggml.*}); null when the file has no vocabulary. Values use
     * {@link org.jmoe.format.GgufFile}'s Java types.
     */
    public static Tokenizer fromGguf(String who, Map<String, Object> meta) {
        Object model = meta.get("tokenizer.ggml.model");
        if (model == null) return null;
        Object toks = meta.get("tokenizer.ggml.tokens");
        if (!(toks instanceof String[] tokens)) throw new JmoeException(who, "missing or malformed vocabulary", "key tokenizer.ggml.tokens");
        int[] types = null;
        if (meta.get("tokenizer.ggml.token_type") instanceof long[] t) {
            types = new int[t.length];
            for (int i = 0; i < t.length; i++) types[i] = (int) t[i];
        }
        Vocab v = new Vocab(who, tokens, types, id(meta, "bos_token_id"), id(meta, "eos_token_id"), id(meta, "eot_token_id"), id(meta, "unknown_token_id"));
        switch (String.valueOf(model)) {
            case "gpt2" -> {
                Object m = meta.get("tokenizer.ggml.merges");
                if (!(m instanceof String[] merges)) throw new JmoeException(who, "BPE vocabulary without merges", "key tokenizer.ggml.merges");
                String pre = meta.get("tokenizer.ggml.pre") instanceof String p ? p : "default";
                return new BpeTokenizer(v, merges, BpeTokenizer.preRegex(pre), bool(meta, "add_bos_token", false));
            }
            case "llama" -> {
                float[] scores = meta.get("tokenizer.ggml.scores") instanceof float[] f ? f : null;
                if (scores != null && scores.length != tokens.length) throw new JmoeException(who, "scores has " + scores.length + " entries for " + tokens.length + " tokens", "key tokenizer.ggml.scores");
                return new SpmTokenizer(v, scores, bool(meta, "add_space_prefix", true), bool(meta, "add_bos_token", true));
            }
            default -> throw new JmoeException(who, "unsupported tokenizer model '" + model + "' (jmoe reads gpt2 and llama)", "key tokenizer.ggml.model");
        }
    }

    private static int id(Map<String, Object> meta, String key) {
        Object o = meta.get("tokenizer.ggml." + key);
        return o instanceof Long l ? (int) (long) l : -1;
    }

    private static boolean bool(Map<String, Object> meta, String key, boolean dflt) {
        Object o = meta.get("tokenizer.ggml." + key);
        return o instanceof Boolean b ? b : dflt;
    }
}
