package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.moe.AdaKAllocators;
import org.jmoe.moe.AdaKRouter;
import org.jmoe.moe.HashRouter;
import org.jmoe.moe.LocMoERouter;
import org.jmoe.moe.MoGERouter;
import org.jmoe.moe.SwitchRouter;
import org.jmoe.moe.Placement;
import org.jmoe.moe.Router;
import org.jmoe.moe.RouterSpec;
import org.jmoe.moe.TopKRouter;

import java.nio.file.Path;
import java.util.Set;

/**
 * Builds a {@link Router} from a {@link RouterSpec} for a given model and mesh. Keys a spec leaves out take
 * the model's own values (k, scoring function, renormalisation, scale, groups) so {@code topk:k=4} on
 * Mixtral changes only k. {@code native} is the router the checkpoint was trained with.
 */
public final class Routers {
    private Routers() {}

    public static Router create(String spec, ModelConfig c, Placement placement) {
        return create(RouterSpec.parse(spec, "--router"), c, placement);
    }

    public static Router create(RouterSpec spec, ModelConfig c, Placement placement) {
        if (c.experts == 0) throw new JmoeException("router " + spec.text(), "the model has no MoE layers to route");
        int E = c.experts;
        return switch (spec.name()) {
            case "native" -> {
                spec.requireKnownKeys(Set.of());
                yield NativeRouters.of(c, placement);
            }
            case "topk" -> {
                spec.requireKnownKeys(Set.of("k", "norm", "scores", "scale"));
                int k = positive(spec, "k", spec.getInt("k", c.expertsUsed), E);
                TopKRouter.Scores s = scores(spec, c);
                yield new TopKRouter(spec.text(), s, k, spec.getBool("norm", c.normTopK), (float) spec.getDouble("scale", c.weightsScale), 1, 1);
            }
            case "deepseek" -> {
                spec.requireKnownKeys(Set.of("k", "groups", "topk_groups", "norm", "scores", "scale"));
                boolean own = c.routing == ModelConfig.Routing.GROUP_LIMITED;
                int groups = spec.getInt("groups", own ? c.groups : placement != null && placement.devices() > 1 ? placement.devices() : 1);
                if (groups < 1 || groups > E || E % groups != 0) throw new JmoeException("router " + spec.text(), "groups=" + groups + " must divide the " + E + " experts");
                int topkGroups = spec.getInt("topk_groups", own ? c.groupsUsed : Math.max(1, groups / 2));
                if (topkGroups < 1 || topkGroups > groups) throw new JmoeException("router " + spec.text(), "topk_groups=" + topkGroups + " must be between 1 and groups=" + groups);
                int k = positive(spec, "k", spec.getInt("k", c.expertsUsed), E);
                if (k > topkGroups * (E / groups)) throw new JmoeException("router " + spec.text(), "k=" + k + " exceeds the " + topkGroups * (E / groups) + " experts of the kept groups");
                yield new TopKRouter(spec.text(), scores(spec, c), k, spec.getBool("norm", own ? c.normTopK : true),
                        (float) spec.getDouble("scale", c.weightsScale), groups, topkGroups);
            }
            case "moge" -> {
                spec.requireKnownKeys(Set.of("groups", "k"));
                int groups = mogeGroups(spec, c, placement);
                int k = positive(spec, "k", spec.getInt("k", c.expertsUsed), E);
                if (E % groups != 0) throw new JmoeException("router " + spec.text(), groups + " groups do not divide the " + E + " experts");
                if (k % groups != 0) throw new JmoeException("router " + spec.text(), "k=" + k + " is not a multiple of groups=" + groups + " (MoGE picks k/groups experts in each group)");
                if (k / groups > E / groups) throw new JmoeException("router " + spec.text(), "k/groups=" + (k / groups) + " exceeds the group size " + (E / groups));
                yield new MoGERouter(spec.text(), groups, k / groups);
            }
            case "switch" -> {
                spec.requireKnownKeys(Set.of("cf"));
                yield new SwitchRouter(spec.text(), positiveReal(spec, "cf", 1.25));
            }
            case "hash" -> {
                spec.requireKnownKeys(Set.of("k", "weights"));
                int k = positive(spec, "k", spec.getInt("k", 1), E);
                String w = spec.getString("weights", "router");
                if (!w.equals("router") && !w.equals("uniform")) throw new JmoeException("router " + spec.text(), "weights=" + w + " is not router or uniform");
                yield new HashRouter(spec.text(), k, w.equals("uniform"), c.expertsUsed, c.normTopK);
            }
            case "locmoe" -> {
                spec.requireKnownKeys(Set.of("nodes", "devices", "min_ratio", "cf", "delta", "gate"));
                String gate = spec.getString("gate", "learned");
                if (!gate.equals("learned") && !gate.equals("grap")) throw new JmoeException("router " + spec.text(), "gate=" + gate + " is not learned or grap");
                if (gate.equals("grap") && c.hidden < E) throw new JmoeException("router " + spec.text(), "the GrAP gate needs hidden >= experts (" + c.hidden + " < " + E + ")");
                // The mesh: the command's (--devices/--nodes) unless the spec names its own; a spec that only names
                // nodes on a one-device run gets one device per node.
                Placement pl = placement;
                boolean meshGiven = pl != null && pl.devices() > 1;
                int nodes = spec.getInt("nodes", meshGiven ? pl.nodes() : 2);
                int devices = spec.getInt("devices", meshGiven ? pl.devices() : nodes);
                if (pl == null || pl.devices() != devices || pl.nodes() != nodes) {
                    if (devices < 1 || nodes < 1 || nodes > devices || devices % nodes != 0) {
                        throw new JmoeException("router " + spec.text(), nodes + " nodes do not split " + devices + " devices evenly");
                    }
                    pl = Placement.contiguous(E, devices, nodes);
                }
                if (nodes < 2) System.err.println("jmoe: warning: locmoe with 1 node: every expert is local, locality has no effect");
                double ratio = spec.getDouble("min_ratio", 0.5);
                if (ratio < 0 || ratio > 1) throw new JmoeException("router " + spec.text(), "min_ratio=" + ratio + " must be between 0 and 1");
                double delta = spec.getDouble("delta", 0.1);
                if (delta < 0 || delta >= 1) throw new JmoeException("router " + spec.text(), "delta=" + delta + " must be in [0, 1)");
                yield new LocMoERouter(spec.text(), pl, ratio, positiveReal(spec, "cf", 1.25), delta, gate.equals("grap"));
            }
            case "adak" -> {
                spec.requireKnownKeys(Set.of("allocators", "threshold", "sample", "seed", "balance"));
                AdaKAllocators alloc = null;
                double threshold = spec.getDouble("threshold", 0);
                if (spec.has("allocators")) {
                    if (spec.has("threshold")) throw new JmoeException("router " + spec.text(), "give allocators= or threshold=, not both");
                    boolean[] moe = new boolean[c.layers];
                    for (int l = 0; l < c.layers; l++) moe[l] = c.isMoeLayer(l);
                    alloc = AdaKAllocators.load(Path.of(spec.getString("allocators", "")), c.layers, E, c.hidden, moe);
                } else if (!spec.has("threshold")) {
                    throw new JmoeException("router " + spec.text(), "Ada-K needs allocators=FILE (trained by 'jmoe train-allocators') or threshold=P (pseudo-label policy)");
                } else if (threshold <= 0 || threshold > 1) {
                    throw new JmoeException("router " + spec.text(), "threshold=" + threshold + " must be in (0, 1]");
                }
                Long seed = spec.getBool("sample", false) ? (long) spec.getInt("seed", 0) : null;
                if (spec.has("seed") && seed == null) throw new JmoeException("router " + spec.text(), "seed= only applies with sample=true");
                AdaKRouter.Scores sc = c.gating == ModelConfig.Gating.SIGMOID ? AdaKRouter.Scores.SIGMOID : AdaKRouter.Scores.SOFTMAX;
                int groups = c.routing == ModelConfig.Routing.MOGE ? c.groups : 1;
                yield new AdaKRouter(spec.text(), alloc, threshold, seed, sc, c.expertsUsed, c.normTopK, c.weightsScale, groups, spec.getBool("balance", true));
            }
            default -> throw new JmoeException("router " + spec.text(), "unknown router '" + spec.name() + "'");
        };
    }

    private static double positiveReal(RouterSpec spec, String key, double dflt) {
        double v = spec.getDouble(key, dflt);
        if (!(v > 0)) throw new JmoeException("router " + spec.text(), key + "=" + v + " must be > 0");
        return v;
    }

    /**
     * MoGE's group count M: {@code groups=} if given, else the model's own (Pangu: 8), else the device count
     * when there is more than one device, else one group per selected expert (K' = 1). With D devices, D must
     * divide M so that each device holds M/D whole groups.
     */
    static int mogeGroups(RouterSpec spec, ModelConfig c, Placement placement) {
        int devices = placement == null ? 1 : placement.devices();
        int groups;
        if (spec.has("groups")) groups = spec.getInt("groups", 0);
        else if (c.routing == ModelConfig.Routing.MOGE) groups = c.groups;
        else if (devices > 1) groups = devices;
        else groups = c.expertsUsed;
        if (groups < 1 || groups > c.experts) throw new JmoeException("router " + spec.text(), "groups=" + groups + " must be between 1 and the " + c.experts + " experts");
        if (devices > 1 && groups % devices != 0) {
            throw new JmoeException("router " + spec.text(), devices + " devices do not divide " + groups + " groups (each device must hold whole groups)");
        }
        return groups;
    }

    private static TopKRouter.Scores scores(RouterSpec spec, ModelConfig c) {
        String dflt = switch (c.gating) {
            case SOFTMAX -> "softmax";
            case SIGMOID -> "sigmoid";
            case SOFTMAX_AFTER_TOPK -> "softmax_after_topk";
        };
        return switch (spec.getString("scores", dflt).toLowerCase(java.util.Locale.ROOT)) {
            case "softmax" -> TopKRouter.Scores.SOFTMAX;
            case "sigmoid" -> TopKRouter.Scores.SIGMOID;
            case "softmax_after_topk" -> TopKRouter.Scores.SOFTMAX_AFTER_TOPK;
            default -> throw new JmoeException("router " + spec.text(), "scores=" + spec.getString("scores", "") + " is not softmax, sigmoid or softmax_after_topk");
        };
    }

    private static int positive(RouterSpec spec, String key, int v, int experts) {
        if (v < 1 || v > experts) throw new JmoeException("router " + spec.text(), key + "=" + v + " must be between 1 and the " + experts + " experts");
        return v;
    }

    /**
     * A warning to show when {@code r} is not the router the model was trained with, or null when it is
     * (a spec whose routing equals the native one, e.g. {@code moge} on Pangu, gives none).
     */
    public static String warning(RouterSpec spec, ModelConfig c) {
        if (spec.name().equals("native")) return null;
        boolean same = switch (spec.name()) {
            case "moge" -> c.routing == ModelConfig.Routing.MOGE && spec.params().isEmpty();
            case "topk" -> c.routing == ModelConfig.Routing.TOPK && spec.params().isEmpty();
            case "deepseek" -> c.routing == ModelConfig.Routing.GROUP_LIMITED && spec.params().isEmpty();
            default -> false;
        };
        return same ? null : "routing with " + spec.text() + ", not the model's own router (" + c.routingDescription() + "): outputs will differ from the trained model's";
    }
}
