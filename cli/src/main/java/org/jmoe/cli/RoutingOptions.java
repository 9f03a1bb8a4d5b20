package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.model.Routers;
import org.jmoe.moe.Placement;
import org.jmoe.moe.Router;
import org.jmoe.moe.RouterSpec;
import org.jmoe.moe.RoutingStats;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * Routing flags shared by the model commands: the router override, the mesh the telemetry and the
 * mesh-aware routers (MoGE groups, LocMoE nodes) see, and the statistics file.
 */
final class RoutingOptions {
    @Option(names = "--router", paramLabel = "SPEC", defaultValue = "native",
            description = "Router: native (the model's own), topk, deepseek, moge, adak, locmoe, switch, hash, with :key=value "
                    + "parameters, e.g. topk:k=4, moge:groups=8, adak:allocators=A.safetensors, locmoe:nodes=2 (default: ${DEFAULT-VALUE}).")
    String router;

    @Option(names = "--devices", paramLabel = "D", defaultValue = "1", description = "Devices of the mesh the routers and telemetry see (default: ${DEFAULT-VALUE}).")
    int devices;

    @Option(names = "--nodes", paramLabel = "G", defaultValue = "1", description = "Nodes the devices are split into (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Option(names = "--placement", paramLabel = "P", defaultValue = "contiguous", description = "Expert placement: contiguous or round-robin (default: ${DEFAULT-VALUE}).")
    String placement;

    @Option(names = "--stats", paramLabel = "FILE", description = "Write per-layer, per-step expert-load statistics as JSON (docs/TRACE.md); draw them with 'jmoe report'.")
    Path stats;

    /** The mesh placement for {@code c}, or null for a model without experts. */
    Placement placement(ModelConfig c) {
        Placement.checkMesh(devices, nodes);
        return c.experts == 0 ? null : Placement.named(placement, c.experts, devices, nodes);
    }

    /** Builds the router of {@code spec} for {@code m}, warning on stderr when it is not the model's own. */
    static Router router(String spec, Model m, Placement p, boolean quiet) {
        ModelConfig c = m.config();
        RouterSpec s = RouterSpec.parse(spec, "--router");
        if (c.experts == 0) {
            if (!s.name().equals("native")) throw new JmoeException("--router", "the model has no MoE layers to route");
            return null;
        }
        Router r = Routers.create(s, c, p);
        String warn = Routers.warning(s, c);
        if (warn != null && !quiet) System.err.println("jmoe: warning: " + warn);
        return r;
    }

    /** Applies the router to {@code f} and attaches statistics when asked; returns them (or null). */
    RoutingStats apply(Model m, Path modelPath, Forward f, boolean quiet) {
        ModelConfig c = m.config();
        Placement p = placement(c);
        Router r = router(router, m, p, quiet);
        if (r != null) f.setRouter(r);
        if (stats == null) return null;
        if (c.experts == 0) throw new JmoeException("--stats", "the model has no MoE layers");
        RoutingStats s = newStats(m, modelPath, router, p);
        f.setRoutingListener(lr -> s.onLayer(lr.layer(), lr.plan()));
        return s;
    }

    static RoutingStats newStats(Model m, Path modelPath, String spec, Placement p) {
        ModelConfig c = m.config();
        return new RoutingStats(new RoutingStats.Header(modelPath.toString(), c.arch, spec, c.routingDescription(),
                c.experts, c.expertsUsed, c.hidden, 4L * c.hidden), p);
    }

    /** Writes the statistics file (if any). */
    void finish(RoutingStats s) {
        if (s != null && stats != null) {
            s.write(stats);
            System.err.printf("jmoe: wrote routing statistics of %d steps to %s (imbalance score %.3f, mean k %.2f)%n",
                    s.steps().size(), stats, s.meanImbalanceScore(), s.meanK());
        }
    }
}
