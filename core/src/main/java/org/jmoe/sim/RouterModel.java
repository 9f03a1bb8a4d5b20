package org.jmoe.sim;

import org.jmoe.JmoeException;
import org.jmoe.moe.LocMoECapacity;
import org.jmoe.moe.RouterSpec;

import java.util.Set;
import java.util.SplittableRandom;

/**
 * A router's selection rule, applied to sampled scores instead of a model's hidden states. A token's scores are
 * {@code u_e = log p_e + g_e} (p the layer's {@link Popularity}, g standard Gumbel noise), so that the top-1 of u is an
 * expert drawn with probability p and the top-k a draw of k distinct experts (Plackett-Luce); each router then
 * applies its own rule to u, as its engine class does to the real scores:
 * <ul>
 *   <li>{@code topk}, {@code native} on a top-k model — the k best;</li>
 *   <li>{@code deepseek} (group-limited) — the best {@code topk_groups} groups by their best score, then the k best in them;</li>
 *   <li>{@code moge} — the K/M best in each of M groups: every group, so every device holding whole groups, gets
 *       exactly T·K/M rows;</li>
 *   <li>{@code adak} — k per token: {@code mean_k=} (the two neighbouring integers mixed to that mean), {@code threshold=p}
 *       (smallest k whose sorted softmax(u) mass reaches p), else 0.70·K (Ada-K's reported Mixtral ratio, 2 → 1.40);
 *       on a MoGE model k is rounded up to whole rounds of groups (the engine's {@code balance=true});</li>
 *   <li>{@code locmoe} — top-1, kept on the token's node unless the best remote expert is more than 1/ρ as likely
 *       ({@code min_ratio}); capacity {@link LocMoECapacity#capacity};</li>
 *   <li>{@code switch} — top-1, capacity ⌈T·cf/E⌉, the overflow dropped;</li>
 *   <li>{@code hash} — k experts uniformly at random per token (a fixed hash of token ids spreads a large vocabulary
 *       evenly), popularity ignored.</li>
 * </ul>
 */
public final class RouterModel {
    public enum Kind { TOPK, GROUP_LIMITED, MOGE, ADAK, LOCMOE, SWITCH, HASH }

    private final String text;
    private final Kind kind;
    private final int experts, k, groups, groupsUsed;
    private final double meanK, threshold;
    private final double minRatio, capacityFactor, delta;
    private final int hidden;

    private RouterModel(String text, Kind kind, int experts, int k, int groups, int groupsUsed, double meanK, double threshold,
                        double minRatio, double capacityFactor, double delta, int hidden) {
        this.text = text;
        this.kind = kind;
        this.experts = experts;
        this.k = k;
        this.groups = groups;
        this.groupsUsed = groupsUsed;
        this.meanK = meanK;
        this.threshold = threshold;
        this.minRatio = minRatio;
        this.capacityFactor = capacityFactor;
        this.delta = delta;
        this.hidden = hidden;
    }

    /** The router of {@code spec} for model {@code m}; {@code epDegree} is MoGE's default group count on a non-MoGE model. */
    public static RouterModel of(RouterSpec spec, ModelProfile m, int epDegree) {
        int E = m.experts();
        String w = "router " + spec.text();
        return switch (spec.name()) {
            case "native" -> {
                spec.requireKnownKeys(Set.of());
                yield switch (m.routing()) {
                    case "moge" -> new RouterModel(spec.text(), Kind.MOGE, E, m.expertsUsed(), m.groups(), m.groups(), 0, 0, 0, 0, 0, m.hidden());
                    case "group_limited" -> new RouterModel(spec.text(), Kind.GROUP_LIMITED, E, m.expertsUsed(), m.groups(), m.groupsUsed(), 0, 0, 0, 0, 0, m.hidden());
                    default -> new RouterModel(spec.text(), Kind.TOPK, E, m.expertsUsed(), 1, 1, 0, 0, 0, 0, 0, m.hidden());
                };
            }
            case "topk" -> {
                spec.requireKnownKeys(Set.of("k", "norm", "scores", "scale"));
                yield new RouterModel(spec.text(), Kind.TOPK, E, range(spec, "k", spec.getInt("k", m.expertsUsed()), 1, E), 1, 1, 0, 0, 0, 0, 0, m.hidden());
            }
            case "deepseek" -> {
                spec.requireKnownKeys(Set.of("k", "groups", "topk_groups", "norm", "scores", "scale"));
                boolean own = m.routing().equals("group_limited");
                int g = spec.getInt("groups", own ? m.groups() : Math.max(1, epDegree));
                if (g < 1 || E % g != 0) throw new JmoeException(w, "groups=" + g + " must divide the " + E + " experts");
                int tg = range(spec, "topk_groups", spec.getInt("topk_groups", own ? m.groupsUsed() : Math.max(1, g / 2)), 1, g);
                int kk = range(spec, "k", spec.getInt("k", m.expertsUsed()), 1, tg * (E / g));
                yield new RouterModel(spec.text(), Kind.GROUP_LIMITED, E, kk, g, tg, 0, 0, 0, 0, 0, m.hidden());
            }
            case "moge" -> {
                spec.requireKnownKeys(Set.of("groups", "k"));
                int g = spec.getInt("groups", m.routing().equals("moge") ? m.groups() : Math.max(1, epDegree));
                int kk = range(spec, "k", spec.getInt("k", m.expertsUsed()), 1, E);
                if (g < 1 || E % g != 0) throw new JmoeException(w, g + " groups do not divide the " + E + " experts");
                if (kk % g != 0) throw new JmoeException(w, "k=" + kk + " is not a multiple of groups=" + g + " (MoGE picks k/groups experts in each group)");
                yield new RouterModel(spec.text(), Kind.MOGE, E, kk, g, g, 0, 0, 0, 0, 0, m.hidden());
            }
            case "adak" -> {
                spec.requireKnownKeys(Set.of("allocators", "threshold", "sample", "seed", "balance", "mean_k"));
                double mk = spec.getDouble("mean_k", 0), th = spec.getDouble("threshold", 0);
                if (spec.has("mean_k") && !(mk >= 1 && mk <= E)) throw new JmoeException(w, "mean_k=" + mk + " must be between 1 and the " + E + " experts");
                if (spec.has("threshold") && !(th > 0 && th <= 1)) throw new JmoeException(w, "threshold=" + th + " must be in (0, 1]");
                if (!spec.has("mean_k") && !spec.has("threshold")) mk = Math.max(1, 0.70 * m.expertsUsed());
                boolean balance = spec.getBool("balance", true) && m.routing().equals("moge");
                yield new RouterModel(spec.text(), Kind.ADAK, E, m.expertsUsed(), balance ? m.groups() : 1, balance ? m.groups() : 1, mk, th, 0, 0, 0, m.hidden());
            }
            case "locmoe" -> {
                spec.requireKnownKeys(Set.of("nodes", "devices", "min_ratio", "cf", "delta", "gate"));
                double ratio = spec.getDouble("min_ratio", 0.5);
                if (ratio < 0 || ratio > 1) throw new JmoeException(w, "min_ratio=" + ratio + " must be between 0 and 1");
                double d = spec.getDouble("delta", 0.1);
                if (d < 0 || d >= 1) throw new JmoeException(w, "delta=" + d + " must be in [0, 1)");
                yield new RouterModel(spec.text(), Kind.LOCMOE, E, 1, 1, 1, 0, 0, ratio, positive(spec, "cf", 1.25), d, m.hidden());
            }
            case "switch" -> {
                spec.requireKnownKeys(Set.of("cf"));
                yield new RouterModel(spec.text(), Kind.SWITCH, E, 1, 1, 1, 0, 0, 0, positive(spec, "cf", 1.25), 0, m.hidden());
            }
            case "hash" -> {
                spec.requireKnownKeys(Set.of("k", "weights"));
                yield new RouterModel(spec.text(), Kind.HASH, E, range(spec, "k", spec.getInt("k", 1), 1, E), 1, 1, 0, 0, 0, 0, 0, m.hidden());
            }
            default -> throw new JmoeException(w, "unknown router '" + spec.name() + "'");
        };
    }

    private static int range(RouterSpec spec, String key, int v, int lo, int hi) {
        if (v < lo || v > hi) throw new JmoeException("router " + spec.text(), key + "=" + v + " must be between " + lo + " and " + hi);
        return v;
    }

    private static double positive(RouterSpec spec, String key, double dflt) {
        double v = spec.getDouble(key, dflt);
        if (!(v > 0)) throw new JmoeException("router " + spec.text(), key + "=" + v + " must be > 0");
        return v;
    }

    public String text() { return text; }

    public Kind kind() { return kind; }

    /** Groups MoGE (and balanced Ada-K) select in; 1 otherwise. */
    public int groups() { return kind == Kind.MOGE || kind == Kind.ADAK ? groups : 1; }

    /** The most experts one token can get. */
    public int maxK() {
        return switch (kind) {
            case ADAK -> experts;
            case LOCMOE, SWITCH -> 1;
            default -> k;
        };
    }

    /** Whether the popularity (the learned router's preferences) shapes the choice; hashing ignores it. */
    public boolean usesScores() { return kind != Kind.HASH; }

    /** Tokens one expert takes in a batch of {@code tokens} (capacity routers), else {@link Long#MAX_VALUE}. */
    public long capacity(long tokens) {
        return switch (kind) {
            case SWITCH -> Math.min(tokens, (long) Math.ceil(tokens * capacityFactor / experts));
            case LOCMOE -> LocMoECapacity.capacity((int) Math.min(Integer.MAX_VALUE, tokens), capacityFactor, experts, delta, Math.max(2, hidden));
            default -> Long.MAX_VALUE;
        };
    }

    /**
     * Whether, under uniform popularity, the rule's choice is a uniformly random set that {@link #selectUniform}
     * draws directly (the same distribution as {@link #select} on Gumbel scores, without drawing E scores).
     */
    public boolean uniformShortcut() {
        return switch (kind) {
            case TOPK, MOGE, SWITCH, HASH -> true;
            case ADAK -> meanK > 0;
            default -> false;
        };
    }

    /** One token's experts under uniform popularity (see {@link #uniformShortcut}). */
    public int selectUniform(int[] out, SplittableRandom rnd) {
        return switch (kind) {
            case TOPK, HASH -> distinct(0, experts, k, out, 0, rnd);
            case SWITCH -> distinct(0, experts, 1, out, 0, rnd);
            case MOGE -> {
                int size = experts / groups, n = 0;
                for (int g = 0; g < groups; g++) n = distinct(g * size, (g + 1) * size, k / groups, out, n, rnd);
                yield n;
            }
            case ADAK -> {
                int kk = adaK(null, rnd);
                if (groups <= 1) yield distinct(0, experts, kk, out, 0, rnd);
                int size = experts / groups, per = Math.min(size, (kk + groups - 1) / groups), n = 0;
                for (int g = 0; g < groups; g++) n = distinct(g * size, (g + 1) * size, per, out, n, rnd);
                yield n;
            }
            default -> throw new IllegalStateException("no uniform shortcut for " + kind);
        };
    }

    /** Appends {@code k} distinct experts drawn uniformly from [from, to). */
    private static int distinct(int from, int to, int k, int[] out, int n, SplittableRandom rnd) {
        int start = n;
        while (n - start < k) {
            int e = from + rnd.nextInt(to - from);
            boolean dup = false;
            for (int i = start; i < n; i++) dup |= out[i] == e;
            if (!dup) out[n++] = e;
        }
        return n;
    }

    /**
     * Chooses one token's experts from its scores {@code u} into {@code out}; returns how many. {@code expertNode}
     * and {@code homeNode} give LocMoE the node of each expert and of the token.
     */
    public int select(double[] u, int[] expertNode, int homeNode, int[] out, SplittableRandom rnd) {
        return switch (kind) {
            case TOPK -> top(u, 0, experts, k, out, 0);
            case MOGE -> perGroup(u, k / groups, out);
            case GROUP_LIMITED -> groupLimited(u, out);
            case ADAK -> {
                int kk = adaK(u, rnd);
                if (groups > 1) yield perGroup(u, Math.min(experts / groups, (kk + groups - 1) / groups), out);
                yield top(u, 0, experts, kk, out, 0);
            }
            case SWITCH -> top(u, 0, experts, 1, out, 0);
            case LOCMOE -> {
                int g = -1, l = -1;
                for (int e = 0; e < experts; e++) {
                    if (g < 0 || u[e] > u[g]) g = e;
                    if (expertNode[e] == homeNode && (l < 0 || u[e] > u[l])) l = e;
                }
                out[0] = l >= 0 && Math.exp(u[l] - u[g]) >= minRatio ? l : g;
                yield 1;
            }
            case HASH -> distinct(0, experts, k, out, 0, rnd);
        };
    }

    private int adaK(double[] u, SplittableRandom rnd) {
        if (meanK > 0) {
            int lo = (int) Math.floor(meanK);
            return Math.min(experts, lo + (rnd.nextDouble() < meanK - lo ? 1 : 0));
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int e = 0; e < experts; e++) max = Math.max(max, u[e]);
        double[] p = new double[experts];
        double sum = 0;
        for (int e = 0; e < experts; e++) { p[e] = Math.exp(u[e] - max); sum += p[e]; }
        java.util.Arrays.sort(p);
        double acc = 0;
        for (int i = experts - 1, kk = 1; i >= 0; i--, kk++) {
            acc += p[i] / sum;
            if (acc >= threshold - 1e-12) return kk;
        }
        return experts;
    }

    private int perGroup(double[] u, int perGroup, int[] out) {
        int size = experts / groups, n = 0;
        for (int g = 0; g < groups; g++) n = top(u, g * size, (g + 1) * size, perGroup, out, n);
        return n;
    }

    private int groupLimited(double[] u, int[] out) {
        int size = experts / groups;
        double[] best = new double[groups];
        for (int g = 0; g < groups; g++) {
            double b = Double.NEGATIVE_INFINITY;
            for (int e = g * size; e < (g + 1) * size; e++) b = Math.max(b, u[e]);
            best[g] = b;
        }
        boolean[] kept = new boolean[groups];
        for (int i = 0; i < groupsUsed; i++) {
            int arg = -1;
            for (int g = 0; g < groups; g++) if (!kept[g] && (arg < 0 || best[g] > best[arg])) arg = g;
            kept[arg] = true;
        }
        double[] masked = u.clone();
        for (int g = 0; g < groups; g++) if (!kept[g]) for (int e = g * size; e < (g + 1) * size; e++) masked[e] = Double.NEGATIVE_INFINITY;
        return top(masked, 0, experts, k, out, 0);
    }

    /** Appends the {@code k} largest of {@code u[from..to)} to {@code out} from index {@code n}; returns the new n. */
    static int top(double[] u, int from, int to, int k, int[] out, int n) {
        int start = n;
        for (int e = from; e < to; e++) {
            double v = u[e];
            if (v == Double.NEGATIVE_INFINITY) continue;
            int len = n - start;
            if (len < k) {
                int i = n++;
                while (i > start && u[out[i - 1]] < v) { out[i] = out[i - 1]; i--; }
                out[i] = e;
            } else if (v > u[out[n - 1]]) {
                int i = n - 1;
                while (i > start && u[out[i - 1]] < v) { out[i] = out[i - 1]; i--; }
                out[i] = e;
            }
        }
        return n;
    }
}
