package org.jmoe.moe;

import org.jmoe.JmoeException;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A router as the user writes it on the command line: {@code NAME[:key=value[:key=value...]]}, e.g.
 * {@code moge:groups=8}, {@code deepseek:groups=8:topk_groups=4}. A list of specs is comma-separated.
 * {@link #text()} is the spec exactly as given; JSON output names routers by it.
 *
 * <p>Typed getters name the spec and key in their errors; {@link #requireKnownKeys} rejects typos.
 */
public record RouterSpec(String text, String name, Map<String, String> params) {
    /** Router names every command accepts. */
    public static final List<String> NAMES = List.of("native", "topk", "deepseek", "moge", "adak", "locmoe", "switch", "hash");

    public RouterSpec {
        params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
    }

    /** Parses one spec; {@code where} names its source for errors (e.g. {@code --router}). */
    public static RouterSpec parse(String text, String where) {
        if (text == null || text.isBlank()) throw new JmoeException(where, "empty router spec (expected NAME[:key=value...], NAME one of " + String.join(", ", NAMES) + ")");
        String s = text.strip();
        String[] parts = s.split(":", -1);
        String name = parts[0].toLowerCase(java.util.Locale.ROOT);
        if (!NAMES.contains(name)) throw new JmoeException(where, "unknown router '" + parts[0] + "' (known: " + String.join(", ", NAMES) + ")");
        Map<String, String> params = new LinkedHashMap<>();
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i];
            int eq = p.indexOf('=');
            if (eq <= 0 || eq == p.length() - 1) throw new JmoeException(where, "bad router parameter '" + p + "' in '" + s + "' (expected key=value)");
            String key = p.substring(0, eq).toLowerCase(java.util.Locale.ROOT);
            if (params.put(key, p.substring(eq + 1)) != null) throw new JmoeException(where, "router parameter '" + key + "' given twice in '" + s + "'");
        }
        return new RouterSpec(s, name, params);
    }

    /** Parses a comma-separated list of specs (at least one). */
    public static List<RouterSpec> parseList(String text, String where) {
        if (text == null || text.isBlank()) throw new JmoeException(where, "empty router list");
        List<RouterSpec> out = new ArrayList<>();
        for (String one : text.split(",", -1)) out.add(parse(one, where));
        return out;
    }

    public boolean has(String key) { return params.containsKey(key); }

    public String getString(String key, String dflt) { return params.getOrDefault(key, dflt); }

    public int getInt(String key, int dflt) {
        String v = params.get(key);
        if (v == null) return dflt;
        try {
            return Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw bad(key, v, "an integer");
        }
    }

    public double getDouble(String key, double dflt) {
        String v = params.get(key);
        if (v == null) return dflt;
        try {
            double d = Double.parseDouble(v.strip());
            if (!Double.isFinite(d)) throw bad(key, v, "a finite number");
            return d;
        } catch (NumberFormatException e) {
            throw bad(key, v, "a number");
        }
    }

    public boolean getBool(String key, boolean dflt) {
        String v = params.get(key);
        if (v == null) return dflt;
        return switch (v.strip().toLowerCase(java.util.Locale.ROOT)) {
            case "true", "1", "yes", "on" -> true;
            case "false", "0", "no", "off" -> false;
            default -> throw bad(key, v, "true or false");
        };
    }

    /** Fails on any key not in {@code known}, listing the keys this router takes. */
    public RouterSpec requireKnownKeys(Set<String> known) {
        for (String k : params.keySet()) {
            if (!known.contains(k)) {
                throw new JmoeException("router " + text, "unknown parameter '" + k + "' for " + name
                        + (known.isEmpty() ? " (it takes none)" : " (known: " + String.join(", ", known.stream().sorted().toList()) + ")"));
            }
        }
        return this;
    }

    private JmoeException bad(String key, String v, String what) {
        return new JmoeException("router " + text, key + "=" + v + " is not " + what);
    }

    @Override
    public String toString() { return text; }
}
