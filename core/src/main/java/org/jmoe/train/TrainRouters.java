package org.jmoe.train;

import org.jmoe.JmoeException;
import org.jmoe.moe.Placement;
import org.jmoe.moe.RouterSpec;

import java.util.Set;

/**
 * Builds the training router of every layer from a {@link RouterSpec}:
 * <ul>
 *   <li>{@code topk[:k=4][:norm=true][:aux=0.01]} — softmax top-k, Switch-style f·P loss;</li>
 *   <li>{@code switch[:cf=1.25][:aux=0.01]} — top-1 with capacity and drops;</li>
 *   <li>{@code hash[:k=1]} — fixed token→expert;</li>
 *   <li>{@code moge[:groups=D][:aux=0.001]} — global softmax, K/M per group (groups default: the devices);</li>
 *   <li>{@code locmoe[:gate=grap|learned][:aux=0.01][:loc=0.01][:cf=1.25][:min_ratio=0.5][:delta=0.1]} — over
 *       the mesh {@code --devices D --nodes G};</li>
 *   <li>{@code deepseek[:aux_free=true][:gamma=0.001][:k=4]} — sigmoid scores with the aux-loss-free bias.</li>
 * </ul>
 */
public final class TrainRouters {
    private TrainRouters() {}

    public static TrainRouter[] create(RouterSpec spec, TrainConfig c, Placement mesh) {
        int E = c.experts(), L = c.layers();
        TrainRouter[] out = new TrainRouter[L];
        switch (spec.name()) {
            case "topk" -> {
                spec.requireKnownKeys(Set.of("k", "norm", "aux"));
                int k = k(spec, c);
                for (int l = 0; l < L; l++) out[l] = new TopKTrainRouter(spec.text(), E, k, spec.getBool("norm", true), nonNegative(spec, "aux", 0.01));
            }
            case "switch" -> {
                spec.requireKnownKeys(Set.of("cf", "aux"));
                double cf = positive(spec, "cf", 1.25);
                for (int l = 0; l < L; l++) out[l] = new SwitchTrainRouter(spec.text(), E, cf, nonNegative(spec, "aux", 0.01));
            }
            case "hash" -> {
                spec.requireKnownKeys(Set.of("k"));
                int k = spec.getInt("k", 1);
                if (k < 1 || k > E) throw new JmoeException("router " + spec.text(), "k=" + k + " must be between 1 and the " + E + " experts");
                for (int l = 0; l < L; l++) out[l] = new HashTrainRouter(spec.text(), E, k);
            }
            case "moge" -> {
                spec.requireKnownKeys(Set.of("groups", "k", "aux"));
                int groups = spec.getInt("groups", mesh.devices());
                int k = k(spec, c);
                if (groups < 1 || E % groups != 0 || k % groups != 0) {
                    throw new JmoeException("router " + spec.text(), groups + " groups must divide the " + E + " experts and k=" + k);
                }
                if (mesh.devices() > 1 && groups % mesh.devices() != 0) {
                    throw new JmoeException("router " + spec.text(), mesh.devices() + " devices do not divide " + groups + " groups");
                }
                for (int l = 0; l < L; l++) out[l] = new MoGETrainRouter(spec.text(), E, groups, k, nonNegative(spec, "aux", 0.001));
            }
            case "locmoe" -> {
                spec.requireKnownKeys(Set.of("gate", "aux", "loc", "cf", "min_ratio", "delta"));
                String gate = spec.getString("gate", "grap");
                if (!gate.equals("grap") && !gate.equals("learned")) throw new JmoeException("router " + spec.text(), "gate=" + gate + " is not grap or learned");
                if (gate.equals("grap") && c.hidden() < E) throw new JmoeException("router " + spec.text(), "the GrAP gate needs hidden >= experts (" + c.hidden() + " < " + E + ")");
                double ratio = spec.getDouble("min_ratio", 0.5), delta = spec.getDouble("delta", 0.1);
                if (ratio < 0 || ratio > 1) throw new JmoeException("router " + spec.text(), "min_ratio=" + ratio + " must be between 0 and 1");
                if (delta < 0 || delta >= 1) throw new JmoeException("router " + spec.text(), "delta=" + delta + " must be in [0, 1)");
                double cf = positive(spec, "cf", 1.25), aux = nonNegative(spec, "aux", 0.01), loc = nonNegative(spec, "loc", 0.01);
                for (int l = 0; l < L; l++) out[l] = new LocMoETrainRouter(spec.text(), mesh, c.hidden(), ratio, cf, delta, gate.equals("grap"), aux, loc);
            }
            case "deepseek" -> {
                spec.requireKnownKeys(Set.of("aux_free", "gamma", "k"));
                AuxFreeTrainRouter r = new AuxFreeTrainRouter(spec.text(), L, E, k(spec, c), spec.getBool("aux_free", true), nonNegative(spec, "gamma", 1e-3));
                for (int l = 0; l < L; l++) out[l] = r.layer(l);
            }
            default -> throw new JmoeException("router " + spec.text(), "cannot train router '" + spec.name() + "' (trainable: topk, switch, hash, moge, locmoe, deepseek)");
        }
        return out;
    }

    private static int k(RouterSpec spec, TrainConfig c) {
        int k = spec.getInt("k", c.topK());
        if (k < 1 || k > c.experts()) throw new JmoeException("router " + spec.text(), "k=" + k + " must be between 1 and the " + c.experts() + " experts");
        return k;
    }

    private static double positive(RouterSpec spec, String key, double dflt) {
        double v = spec.getDouble(key, dflt);
        if (!(v > 0)) throw new JmoeException("router " + spec.text(), key + "=" + v + " must be > 0");
        return v;
    }

    private static double nonNegative(RouterSpec spec, String key, double dflt) {
        double v = spec.getDouble(key, dflt);
        if (v < 0) throw new JmoeException("router " + spec.text(), key + "=" + v + " must be >= 0");
        return v;
    }
}
