package org.jmoe.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.JmoeException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads Hugging Face's {@code tokenizer.json} with a BPE model: the vocabulary, merges (as {@code "a b"} or
 * {@code ["a", "b"]}), {@code added_tokens}, and the normalizer, pre-tokenizer and decoder steps that BPE
 * tokenizers use (ByteLevel, Split, Digits, Metaspace, Prepend/Replace, ByteFallback, Strip...). Anything it
 * cannot honour exactly is refused with the field named, rather than tokenized differently.
 */
final class TokenizerJson {
    private final String who;

    private TokenizerJson(String who) {
        this.who = who;
    }

    static Tokenizer load(Path file, Path configFile, int bos, int eos) {
        TokenizerJson t = new TokenizerJson(file.toString());
        JsonNode root = t.read(file);
        JsonNode config = configFile != null ? new TokenizerJson(configFile.toString()).read(configFile) : null;
        return t.build(root, config, configFile, bos, eos);
    }

    private JsonNode read(Path file) {
        try {
            JsonNode n = new ObjectMapper().readTree(Files.readString(file));
            if (n == null || !n.isObject()) throw new JmoeException(who, "expected a JSON object", "top level");
            return n;
        } catch (JsonProcessingException e) {
            throw new JmoeException(who, "malformed JSON: " + e.getOriginalMessage(),
                    "line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr());
        } catch (IOException e) {
            throw new JmoeException(who, "cannot read: " + e.getMessage());
        }
    }

    private JmoeException bad(String what, String field) {
        return new JmoeException(who, what, "field " + field);
    }

    private JsonNode need(JsonNode parent, String name, String path) {
        JsonNode n = parent.get(name);
        if (n == null || n.isNull()) throw bad("missing " + name, path + name);
        return n;
    }

    private String text(JsonNode n, String field) {
        if (!n.isTextual()) throw bad("expected a string, found " + n.getNodeType().toString().toLowerCase(Locale.ROOT), field);
        return n.asText();
    }

    private Tokenizer build(JsonNode root, JsonNode config, Path configFile, int bosArg, int eosArg) {
        JsonNode model = need(root, "model", "");
        if (!model.isObject()) throw bad("expected an object", "model");
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) throw bad("only BPE models are supported, found '" + type + "'", "model.type");
        JsonNode vocabNode = need(model, "vocab", "model.");
        if (!vocabNode.isObject()) throw bad("expected an object of token: id", "model.vocab");
        JsonNode mergesNode = need(model, "merges", "model.");
        if (!mergesNode.isArray()) throw bad("expected an array", "model.merges");
        for (String unsupported : new String[]{"continuing_subword_prefix", "end_of_word_suffix"}) {
            JsonNode n = model.get(unsupported);
            if (n != null && !n.isNull() && !n.asText().isEmpty()) throw bad("not supported: " + n, "model." + unsupported);
        }
        boolean byteFallback = model.path("byte_fallback").asBoolean(false);

        // vocabulary: model.vocab, then added_tokens (which may add ids or mark existing ones special)
        Map<Integer, String> byId = new HashMap<>();
        Map<Integer, Integer> types = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 0) throw bad("token id must be a non-negative integer, found " + v, "model.vocab." + e.getKey());
            String prev = byId.put(v.asInt(), e.getKey());
            if (prev != null) throw bad("id " + v.asInt() + " given to both '" + prev + "' and '" + e.getKey() + "'", "model.vocab." + e.getKey());
        }
        JsonNode added = root.path("added_tokens");
        if (!added.isMissingNode() && !added.isNull() && !added.isArray()) throw bad("expected an array", "added_tokens");
        for (int i = 0; i < added.size(); i++) {
            JsonNode a = added.get(i);
            String f = "added_tokens[" + i + "]";
            JsonNode id = need(a, "id", f + ".");
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0) throw bad("token id must be a non-negative integer, found " + id, f + ".id");
            String content = text(need(a, "content", f + "."), f + ".content");
            byId.put(id.asInt(), content);
            types.put(id.asInt(), a.path("special").asBoolean(false) ? Vocab.CONTROL : Vocab.USER_DEFINED);
        }
        int n = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        if (n == 0) throw bad("empty vocabulary", "model.vocab");
        if (n > byId.size() * 2L + 1024) throw bad("token ids are sparse: largest " + (n - 1) + " for " + byId.size() + " tokens", "model.vocab");
        String[] tokens = new String[n];
        int[] ty = new int[n];
        for (int i = 0; i < n; i++) {
            String s = byId.get(i);
            tokens[i] = s != null ? s : "";
            ty[i] = s == null ? Vocab.UNUSED : types.getOrDefault(i, byteFallback && BpeTokenizer.isByteToken(s) ? Vocab.BYTE : Vocab.NORMAL);
        }
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < n; i++) if (ty[i] != Vocab.UNUSED) ids.putIfAbsent(tokens[i], i);

        String[][] merges = new String[mergesNode.size()][];
        for (int i = 0; i < merges.length; i++) {
            JsonNode m = mergesNode.get(i);
            if (m.isTextual()) {
                merges[i] = BpeTokenizer.splitMerges(new String[]{m.asText()})[0];
                if (merges[i] == null) throw bad("merge \"" + m.asText() + "\" is not two pieces separated by a space", "model.merges[" + i + "]");
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                merges[i] = new String[]{m.get(0).asText(), m.get(1).asText()};
            } else {
                throw bad("merge must be \"a b\" or [\"a\", \"b\"], found " + m, "model.merges[" + i + "]");
            }
        }

        // special ids: explicit arguments, then tokenizer_config.json, then the post-processor's template
        int templateBos = -1;
        JsonNode single = root.path("post_processor").path("single");
        if (single.isArray() && !single.isEmpty() && single.get(0).has("SpecialToken")) {
            templateBos = ids.getOrDefault(single.get(0).path("SpecialToken").path("id").asText(), -1);
        }
        Boolean addBosCfg = null;
        int cfgBos = -1, cfgEos = -1;
        if (config != null) {
            String cfgWho = configFile.toString();
            cfgBos = configToken(config, "bos_token", ids, cfgWho);
            cfgEos = configToken(config, "eos_token", ids, cfgWho);
            if (config.has("add_bos_token") && config.get("add_bos_token").isBoolean()) addBosCfg = config.get("add_bos_token").asBoolean();
        }
        int bos = bosArg >= 0 ? bosArg : cfgBos >= 0 ? cfgBos : templateBos;
        int eos = eosArg >= 0 ? eosArg : cfgEos;
        boolean addBos = addBosCfg != null ? addBosCfg : templateBos >= 0;
        int unk = -1;
        JsonNode unkNode = model.get("unk_token");
        if (unkNode != null && !unkNode.isNull()) {
            unk = ids.getOrDefault(text(unkNode, "model.unk_token"), -1);
            if (unk < 0) throw bad("unk token '" + unkNode.asText() + "' is not in the vocabulary", "model.unk_token");
        }
        Vocab vocab = new Vocab(who, tokens, ty, bos < n ? bos : -1, eos < n ? eos : -1, -1, unk, "field %s");

        BpeTokenizer.Config cfg = new BpeTokenizer.Config();
        cfg.addBos = addBos;
        cfg.byteFallback = byteFallback;
        cfg.ignoreMerges = model.path("ignore_merges").asBoolean(false);
        cfg.unkForMissing = true;
        cfg.fuseUnk = model.path("fuse_unk").asBoolean(false);
        cfg.normalizer = normalizer(root.get("normalizer"), "normalizer");
        boolean[] byteLevel = {false};
        cfg.pre = preTokenizer(root.get("pre_tokenizer"), "pre_tokenizer", byteLevel);
        List<String> replace = new ArrayList<>();
        boolean[] decoderFlags = {false, false}; // byte-level, strip leading space
        decoder(root.get("decoder"), "decoder", replace, decoderFlags);
        cfg.byteLevel = byteLevel[0] || decoderFlags[0];
        cfg.decodeReplace = replace.toArray(new String[0]);
        cfg.stripLeadingSpace = decoderFlags[1];
        return new BpeTokenizer(vocab, merges, cfg);
    }

    private int configToken(JsonNode config, String key, Map<String, Integer> ids, String cfgWho) {
        JsonNode t = config.get(key);
        if (t == null || t.isNull()) return -1;
        String s = t.isTextual() ? t.asText() : t.path("content").asText(null);
        if (s == null) throw new JmoeException(cfgWho, "expected a token string or {\"content\": ...}", "field " + key);
        Integer id = ids.get(s);
        if (id == null) throw new JmoeException(cfgWho, key + " '" + s + "' is not in the vocabulary of " + who, "field " + key);
        return id;
    }

    private UnaryOperator<String> normalizer(JsonNode n, String field) {
        if (n == null || n.isNull()) return null;
        String type = n.path("type").asText("");
        return switch (type) {
            case "Sequence" -> {
                List<UnaryOperator<String>> steps = new ArrayList<>();
                JsonNode list = n.path("normalizers");
                for (int i = 0; i < list.size(); i++) {
                    UnaryOperator<String> s = normalizer(list.get(i), field + ".normalizers[" + i + "]");
                    if (s != null) steps.add(s);
                }
                yield s -> {
                    for (UnaryOperator<String> step : steps) s = step.apply(s);
                    return s;
                };
            }
            case "Prepend" -> {
                String p = text(need(n, "prepend", field + "."), field + ".prepend");
                yield s -> s.isEmpty() ? s : p + s;
            }
            case "Replace" -> {
                Pattern p = pattern(need(n, "pattern", field + "."), field + ".pattern");
                String content = text(need(n, "content", field + "."), field + ".content");
                String lit = java.util.regex.Matcher.quoteReplacement(content);
                yield s -> p.matcher(s).replaceAll(lit);
            }
            case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Lowercase" -> s -> s.toLowerCase(Locale.ROOT);
            case "Strip" -> {
                boolean left = n.path("strip_left").asBoolean(true), right = n.path("strip_right").asBoolean(true);
                yield s -> left && right ? s.strip() : left ? s.stripLeading() : right ? s.stripTrailing() : s;
            }
            default -> throw bad("normalizer '" + type + "' is not supported", field + ".type");
        };
    }

    private Pattern pattern(JsonNode p, String field) {
        try {
            if (p.has("String")) return Pattern.compile(Pattern.quote(p.get("String").asText()));
            if (p.has("Regex")) return Pattern.compile(p.get("Regex").asText(), PreTokenizer.FLAGS);
        } catch (PatternSyntaxException e) {
            throw bad("regex not supported: " + e.getDescription(), field);
        }
        throw bad("expected {\"String\": ...} or {\"Regex\": ...}", field);
    }

    private PreTokenizer preTokenizer(JsonNode n, String field, boolean[] byteLevel) {
        if (n == null || n.isNull()) return PreTokenizer.NONE;
        String type = n.path("type").asText("");
        switch (type) {
            case "Sequence" -> {
                JsonNode list = n.path("pretokenizers");
                PreTokenizer[] steps = new PreTokenizer[list.size()];
                for (int i = 0; i < steps.length; i++) steps[i] = preTokenizer(list.get(i), field + ".pretokenizers[" + i + "]", byteLevel);
                return steps.length == 0 ? PreTokenizer.NONE : PreTokenizer.sequence(steps);
            }
            case "ByteLevel" -> {
                byteLevel[0] = true;
                boolean prefix = n.path("add_prefix_space").asBoolean(false);
                PreTokenizer split = n.path("use_regex").asBoolean(true)
                        ? PreTokenizer.regex(Pattern.compile(PreTokenizer.GPT2, PreTokenizer.FLAGS), PreTokenizer.Behavior.ISOLATED, false)
                        : PreTokenizer.NONE;
                return (s, first, out) -> split.split(prefix && !s.startsWith(" ") ? " " + s : s, first, out);
            }
            case "Split" -> {
                Pattern p = pattern(need(n, "pattern", field + "."), field + ".pattern");
                String b = n.path("behavior").asText("Isolated");
                PreTokenizer.Behavior behavior = switch (b) {
                    case "Isolated" -> PreTokenizer.Behavior.ISOLATED;
                    case "Removed" -> PreTokenizer.Behavior.REMOVED;
                    case "MergedWithPrevious" -> PreTokenizer.Behavior.MERGED_WITH_PREVIOUS;
                    case "MergedWithNext" -> PreTokenizer.Behavior.MERGED_WITH_NEXT;
                    case "Contiguous" -> PreTokenizer.Behavior.CONTIGUOUS;
                    default -> throw bad("split behavior '" + b + "' is not supported", field + ".behavior");
                };
                return PreTokenizer.regex(p, behavior, n.path("invert").asBoolean(false));
            }
            case "Digits" -> {
                String re = n.path("individual_digits").asBoolean(false) ? "\\p{N}" : "\\p{N}+";
                return PreTokenizer.regex(Pattern.compile(re, PreTokenizer.FLAGS), PreTokenizer.Behavior.ISOLATED, false);
            }
            case "Whitespace" -> {
                return PreTokenizer.regex(Pattern.compile("\\w+|[^\\w\\s]+", PreTokenizer.FLAGS), PreTokenizer.Behavior.REMOVED, true);
            }
            case "WhitespaceSplit" -> {
                return PreTokenizer.regex(Pattern.compile("\\s+", PreTokenizer.FLAGS), PreTokenizer.Behavior.REMOVED, false);
            }
            case "Metaspace" -> {
                String rep = n.path("replacement").asText("\u2581");
                String scheme = n.has("prepend_scheme") ? n.get("prepend_scheme").asText()
                        : n.path("add_prefix_space").asBoolean(true) ? "always" : "never";
                if (!List.of("always", "first", "never").contains(scheme)) throw bad("prepend scheme '" + scheme + "' is not supported", field + ".prepend_scheme");
                PreTokenizer split = n.path("split").asBoolean(true)
                        ? PreTokenizer.regex(Pattern.compile(Pattern.quote(rep)), PreTokenizer.Behavior.MERGED_WITH_NEXT, false)
                        : PreTokenizer.NONE;
                return (s, first, out) -> {
                    s = s.replace(" ", rep);
                    boolean prepend = scheme.equals("always") || (scheme.equals("first") && first);
                    if (prepend && !s.startsWith(rep)) s = rep + s;
                    split.split(s, first, out);
                };
            }
            default -> throw bad("pre-tokenizer '" + type + "' is not supported", field + ".type");
        }
    }

    /** Collects decoding steps: flags[0] byte-level, flags[1] strip one leading space; replacements in order. */
    private void decoder(JsonNode n, String field, List<String> replace, boolean[] flags) {
        if (n == null || n.isNull()) return;
        String type = n.path("type").asText("");
        switch (type) {
            case "Sequence" -> {
                JsonNode list = n.path("decoders");
                for (int i = 0; i < list.size(); i++) decoder(list.get(i), field + ".decoders[" + i + "]", replace, flags);
            }
            case "ByteLevel" -> flags[0] = true;
            case "Replace" -> {
                JsonNode p = need(n, "pattern", field + ".");
                if (!p.has("String")) throw bad("only string patterns are supported in decoders", field + ".pattern");
                replace.add(p.get("String").asText());
                replace.add(text(need(n, "content", field + "."), field + ".content"));
            }
            case "Metaspace" -> {
                replace.add(n.path("replacement").asText("\u2581"));
                replace.add(" ");
                String scheme = n.has("prepend_scheme") ? n.get("prepend_scheme").asText()
                        : n.path("add_prefix_space").asBoolean(true) ? "always" : "never";
                if (!scheme.equals("never")) flags[1] = true;
            }
            case "Strip" -> {
                if (n.path("start").asInt(0) > 0 && " ".equals(n.path("content").asText())) flags[1] = true;
            }
            case "ByteFallback", "Fuse" -> { } // byte tokens decode to their byte; pieces are joined anyway
            default -> throw bad("decoder '" + type + "' is not supported", field + ".type");
        }
    }
}
