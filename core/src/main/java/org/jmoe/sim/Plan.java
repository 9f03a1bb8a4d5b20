package org.jmoe.sim;

import org.jmoe.JmoeException;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A parallel strategy, separately for attention, routed experts and the shared expert, written as
 * {@code attn=dp2xtp4,experts=tp2xep4,shared=tp8}: data (dp), tensor (tp), expert (ep) and pipeline (pp) degrees,
 * 1 where left out. Pipeline parallelism cuts the layers into pp stages and is one degree for the whole model (the
 * attention part names it; the others may repeat it). Inside a stage each part's degrees multiply to the stage's
 * devices; devices are laid out tp innermost, then ep, then dp, so a tp group sits on neighbouring devices.
 * The shared expert follows attention's layout unless given; the experts default to ep over every device of a stage.
 */
public record Plan(Part attn, Part experts, Part shared) {

    /** One part's degrees. */
    public record Part(int dp, int tp, int ep, int pp) {
        public int size() { return dp * tp * ep * pp; }

        String text() {
            StringBuilder sb = new StringBuilder();
            int[] v = {dp, tp, ep, pp};
            String[] names = {"dp", "tp", "ep", "pp"};
            for (int i = 0; i < 4; i++) if (v[i] > 1) sb.append(sb.isEmpty() ? "" : "x").append(names[i]).append(v[i]);
            return sb.isEmpty() ? "dp1" : sb.toString();
        }
    }

    public int pp() { return attn.pp; }

    /** Devices of one pipeline stage. */
    public int stageDevices() { return attn.dp * attn.tp; }

    /** The canonical text (degrees of 1 left out), e.g. {@code attn=dp2xtp4,experts=tp2xep4,shared=tp8}. */
    public String text() {
        return "attn=" + attn.text() + ",experts=" + experts.text() + ",shared=" + shared.text();
    }

    @Override
    public String toString() { return text(); }

    /** Attention data-parallel over every device, experts expert-parallel over every device (or as many as divide the experts). */
    public static Plan defaultFor(int devices, ModelProfile m) {
        int ep = gcd(devices, m.experts());
        Part a = new Part(devices, 1, 1, 1);
        return new Plan(a, new Part(devices / ep, 1, ep, 1), a);
    }

    /** Parses and checks a plan against {@code devices} (cards x dies per card); errors name the plan. */
    public static Plan parse(String text, int devices, String deviceWords, ModelProfile m) {
        String who = "--plan";
        if (text == null || text.isBlank()) throw new JmoeException(who, "empty plan (expected e.g. attn=dp2xtp4,experts=tp2xep4,shared=tp8)");
        Map<String, Part> parts = new LinkedHashMap<>();
        for (String p : text.strip().split(",")) {
            int eq = p.indexOf('=');
            if (eq <= 0) throw new JmoeException(who, "plan '" + text + "': part '" + p + "' is not NAME=DEGREES (attn=, experts=, shared=)");
            String name = p.substring(0, eq).strip().toLowerCase(Locale.ROOT);
            if (name.equals("attention")) name = "attn";
            if (name.equals("moe") || name.equals("expert")) name = "experts";
            if (!name.equals("attn") && !name.equals("experts") && !name.equals("shared")) {
                throw new JmoeException(who, "plan '" + text + "': unknown part '" + name + "' (attn, experts, shared)");
            }
            if (parts.put(name, part(p.substring(eq + 1), name, text)) != null) throw new JmoeException(who, "plan '" + text + "': part '" + name + "' given twice");
        }
        Part a = parts.get("attn");
        if (a == null) throw new JmoeException(who, "plan '" + text + "': no attn= part");
        if (a.ep > 1) throw new JmoeException(who, "plan '" + text + "': attention has no expert-parallel degree (use dp, tp, pp)");
        int pp = a.pp;
        int stage = Math.max(1, devices / pp), dep = gcd(stage, m.experts());
        Part e = parts.getOrDefault("experts", new Part(stage / dep, 1, dep, pp));
        Part s = parts.getOrDefault("shared", a);
        if (s.ep > 1) throw new JmoeException(who, "plan '" + text + "': the shared expert has no expert-parallel degree (use dp, tp)");
        e = withPp(e, pp, "experts", text);
        s = withPp(s, pp, "shared", text);
        Plan plan = new Plan(a, e, s);
        for (var x : java.util.List.of(Map.entry("attn", a), Map.entry("experts", e), Map.entry("shared", s))) {
            if (x.getValue().size() != devices) {
                throw new JmoeException(who, "plan '" + text + "': " + x.getKey() + " degrees " + x.getValue().text() + " multiply to "
                        + x.getValue().size() + ", not the " + devices + " devices (" + deviceWords + ")");
            }
        }
        if (m.experts() % e.ep != 0) throw new JmoeException(who, "plan '" + text + "': ep" + e.ep + " does not divide the " + m.experts() + " experts");
        if (a.tp > m.heads()) throw new JmoeException(who, "plan '" + text + "': attention tp" + a.tp + " exceeds the " + m.heads() + " heads");
        if (pp > m.layers()) throw new JmoeException(who, "plan '" + text + "': pp" + pp + " exceeds the " + m.layers() + " layers");
        return plan;
    }

    private static Part withPp(Part p, int pp, String name, String text) {
        if (p.pp == pp) return p;
        if (p.pp == 1) return new Part(p.dp, p.tp, p.ep, pp);
        throw new JmoeException("--plan", "plan '" + text + "': " + name + " pp" + p.pp + " differs from attention's pp" + pp + " (pipeline stages are shared)");
    }

    private static Part part(String s, String name, String text) {
        int dp = 1, tp = 1, ep = 1, pp = 1;
        String body = s.strip().toLowerCase(Locale.ROOT);
        if (body.isEmpty()) throw new JmoeException("--plan", "plan '" + text + "': " + name + " has no degrees");
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (String d : body.split("[x*]", -1)) {
            String t = d.strip();
            if (t.length() < 3 || !seen.add(t.substring(0, 2))) {
                throw new JmoeException("--plan", "plan '" + text + "': bad degree '" + d + "' in " + name + " (expected dpN, tpN, epN or ppN, each once)");
            }
            int v;
            try {
                v = Integer.parseInt(t.substring(2));
            } catch (NumberFormatException ex) {
                throw new JmoeException("--plan", "plan '" + text + "': bad degree '" + d + "' in " + name + " (expected dpN, tpN, epN or ppN)");
            }
            if (v < 1 || v > 65536) throw new JmoeException("--plan", "plan '" + text + "': degree '" + d + "' in " + name + " must be between 1 and 65536");
            switch (t.substring(0, 2)) {
                case "dp" -> dp = v;
                case "tp" -> tp = v;
                case "ep" -> ep = v;
                case "pp" -> pp = v;
                default -> throw new JmoeException("--plan", "plan '" + text + "': bad degree '" + d + "' in " + name + " (expected dpN, tpN, epN or ppN)");
            }
        }
        return new Part(dp, tp, ep, pp);
    }

    static int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }
}
