package org.jmoe.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits a fragment of text (no special tokens in it) into the words that BPE merges inside. Steps compose as
 * Hugging Face's pre-tokenizer {@code Sequence}: each step splits every piece the previous one produced.
 */
@FunctionalInterface
interface PreTokenizer {
    /** Appends the pieces of {@code s} to {@code out}; {@code first} is true for the input's first fragment. */
    void split(String s, boolean first, List<String> out);

    PreTokenizer NONE = (s, first, out) -> out.add(s);

    /** Regex flags: {@code \s} and friends follow Unicode, as in the tokenizers these patterns come from. */
    int FLAGS = Pattern.UNICODE_CHARACTER_CLASS;

    // The expressions below follow the published pre-tokenizers (tokenizer.json), with (?i:'s|...) spelled as
    // explicit case classes; Java's \p{L}, \p{N}, \p{P}, \p{S}, \p{M}, \p{Lu}... are the Unicode categories.
    String CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    String LLAMA3 = CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    String QWEN2 = CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    String QWEN35 = CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    String GPT4O = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" + CONTRACTIONS + "?"
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" + CONTRACTIONS + "?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    String[] DEFAULT = {"[\\p{P}\\$\\+<=>\\^~\\|]+", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            "\\p{N}+", "[0-9][0-9][0-9]"};
    String[] DEEPSEEK_LLM = {
            "[\r\n]",
            "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
            "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
            "\\s+\\z",
            "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
            "\\p{N}+"};
    String[] DEEPSEEK_CODER = {
            "[\r\n]",
            "\\s?\\p{L}+",
            "\\s?\\p{P}+",
            "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
            "\\p{N}"};
    String[] DEEPSEEK_V3 = {
            "\\p{N}{1,3}",
            "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};
    String[] STARCODER = {"\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"};
    String[] FALCON = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "[0-9][0-9][0-9]"};

    /** A GGUF {@code tokenizer.ggml.pre} name resolved to its expressions. */
    record Named(String[] regexes, boolean ignoreMerges, boolean known) { }

    static Named forGgufPre(String pre) {
        if (pre == null) return new Named(DEFAULT, false, true);
        return switch (pre) {
            case "default" -> new Named(DEFAULT, false, true);
            case "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "mpt", "olmo", "jais", "trillion",
                 "gigachat", "mellum", "a.x-4.0", "granite-docling", "modern-bert", "roberta-bpe" ->
                    new Named(new String[]{"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"}, false, true);
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2" -> new Named(new String[]{LLAMA3}, true, true);
            case "dbrx", "smaug-bpe", "chatglm-bpe", "glm4" -> new Named(new String[]{LLAMA3}, false, true);
            case "qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan", "kormo", "megrez", "grok-2", "solar-open" -> new Named(new String[]{QWEN2}, false, true);
            case "qwen35" -> new Named(new String[]{QWEN35}, false, true);
            case "deepseek-llm" -> new Named(DEEPSEEK_LLM, false, true);
            case "deepseek-coder" -> new Named(DEEPSEEK_CODER, false, true);
            case "deepseek-v3", "hunyuan-dense", "joyai-llm" -> new Named(DEEPSEEK_V3, false, true);
            case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b" -> new Named(STARCODER, false, true);
            case "falcon" -> new Named(FALCON, false, true);
            case "gpt-4o", "llama4", "kanana2" -> new Named(new String[]{GPT4O}, false, true);
            default -> new Named(new String[]{GPT2}, false, false);
        };
    }

    /** How a regex split treats the matches (Hugging Face's {@code SplitDelimiterBehavior}). */
    enum Behavior { ISOLATED, REMOVED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** Splits at the matches of {@code p}; every match and every stretch between matches is a piece (when isolated). */
    static PreTokenizer regex(Pattern p, Behavior behavior, boolean invert) {
        return (s, first, out) -> {
            Matcher m = p.matcher(new Budgeted(s));
            List<String> parts = new ArrayList<>();
            List<Boolean> isMatch = new ArrayList<>();
            int at = 0;
            while (m.find()) {
                if (m.end() == m.start()) continue; // empty matches split nothing
                if (m.start() > at) { parts.add(s.substring(at, m.start())); isMatch.add(invert); }
                parts.add(s.substring(m.start(), m.end())); isMatch.add(!invert);
                at = m.end();
            }
            if (at < s.length()) { parts.add(s.substring(at)); isMatch.add(invert); }
            switch (behavior) {
                case ISOLATED -> out.addAll(parts);
                case REMOVED -> { for (int i = 0; i < parts.size(); i++) if (!isMatch.get(i)) out.add(parts.get(i)); }
                case CONTIGUOUS -> {
                    StringBuilder run = null;
                    for (int i = 0; i < parts.size(); i++) {
                        if (isMatch.get(i)) { if (run == null) run = new StringBuilder(); run.append(parts.get(i)); }
                        else { if (run != null) { out.add(run.toString()); run = null; } out.add(parts.get(i)); }
                    }
                    if (run != null) out.add(run.toString());
                }
                case MERGED_WITH_PREVIOUS -> {
                    int base = out.size();
                    for (int i = 0; i < parts.size(); i++) {
                        if (isMatch.get(i) && out.size() > base) out.set(out.size() - 1, out.getLast() + parts.get(i));
                        else out.add(parts.get(i));
                    }
                }
                case MERGED_WITH_NEXT -> {
                    String carry = "";
                    for (int i = 0; i < parts.size(); i++) {
                        if (isMatch.get(i)) carry += parts.get(i);
                        else { out.add(carry + parts.get(i)); carry = ""; }
                    }
                    if (!carry.isEmpty()) out.add(carry);
                }
            }
        };
    }

    /**
     * The text a pre-tokenizer regex runs over, counting the characters the matcher reads. Patterns come from
     * model files (a tokenizer.json's Split regex), and a hostile one can backtrack exponentially; the budget,
     * {@code 4096 · length + 65536} reads, is far above what a linear pattern needs (a few reads per character)
     * and stops a runaway match with a clear error instead of a hung tokenizer.
     */
    static final class Budgeted implements CharSequence {
        private final String s;
        private long left;

        Budgeted(String s) {
            this.s = s;
            this.left = 4096L * s.length() + 65536;
        }

        @Override
        public char charAt(int i) {
            if (--left < 0) {
                throw new org.jmoe.JmoeException("tokenizer", "pre-tokenizer regex backtracks too much on a text of " + s.length()
                        + " characters (a pattern in the tokenizer file is unsafe)");
            }
            return s.charAt(i);
        }

        @Override
        public int length() { return s.length(); }

        @Override
        public CharSequence subSequence(int a, int b) { return s.substring(a, b); }

        @Override
        public String toString() { return s; }
    }

    /** llama.cpp's way: each expression in turn splits every piece, matches and the text between them kept. */
    static PreTokenizer regexes(String... exprs) {
        PreTokenizer[] steps = new PreTokenizer[exprs.length];
        for (int i = 0; i < exprs.length; i++) steps[i] = regex(Pattern.compile(exprs[i], FLAGS), Behavior.ISOLATED, false);
        return sequence(steps);
    }

    static PreTokenizer sequence(PreTokenizer... steps) {
        if (steps.length == 1) return steps[0];
        return (s, first, out) -> {
            List<String> cur = new ArrayList<>(List.of(s));
            for (PreTokenizer step : steps) {
                List<String> next = new ArrayList<>();
                for (int i = 0; i < cur.size(); i++) step.split(cur.get(i), first && i == 0, next);
                cur = next;
            }
            out.addAll(cur);
        };
    }
}
