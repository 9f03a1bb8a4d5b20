package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.model.Routers;
import org.jmoe.parallel.BalancedPlacement;
import org.jmoe.parallel.MeshExperts;
import org.jmoe.parallel.ParallelExperts;
import org.jmoe.moe.Placement;
import org.jmoe.moe.Router;
import org.jmoe.moe.RouterSpec;
import org.jmoe.moe.RoutingStats;
import picocli.CommandLine.Mixin;
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

    @Option(names = "--placement", paramLabel = "P", defaultValue = "contiguous",
            description = "Expert placement: contiguous, round-robin, or balanced (EPLB-like, from --loads) (default: ${DEFAULT-VALUE}).")
    String placement;

    @Option(names = "--loads", paramLabel = "STATS.json", description = "Recorded expert loads (a --stats file) for --placement balanced.")
    Path loads;

    @Option(names = "--slots", paramLabel = "S", description = "Expert slots per device for --placement balanced (default: ceil(E/D) + 1: one replica per device).")
    Integer slots;

    @Option(names = "--schedule", paramLabel = "S", defaultValue = "serial",
            description = "serial, or eps (EPS-MoE: chunks pipelined, dispatch/combine overlapping compute) (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Mixin
    TransportOptions to;

    @Option(names = "--stats", paramLabel = "FILE", description = "Write per-layer, per-step expert-load statistics as JSON (docs/TRACE.md); draw them with 'jmoe report'.")
    Path stats;

    /** The mesh placement for {@code c}, or null for a model without experts. */
    Placement placement(ModelConfig c) {
        Placement.checkMesh(devices, nodes);
        if (c.experts == 0) return null;
        if (placement.equals("balanced")) {
            if (loads == null) throw new JmoeException("--placement", "balanced needs recorded expert loads: --loads STATS.json (from --stats)");
            int s = slots != null ? slots : (c.experts + devices - 1) / devices + 1;
            return BalancedPlacement.of(expertLoads(loads, c.experts), devices, nodes, s);
        }
        if (loads != null || slots != null) throw new JmoeException("--loads", "only used with --placement balanced");
        return Placement.named(placement, c.experts, devices, nodes);
    }

    /** Token counts per expert summed over the layers of a statistics file. */
    static long[] expertLoads(Path file, int experts) {
        var n = RoutingStats.read(file);
        if (n.path("experts").asInt() != experts) {
            throw new JmoeException(file.toString(), "statistics are for " + n.path("experts").asInt() + " experts, the model has " + experts, "field experts");
        }
        long[] l = new long[experts];
        for (var layer : n.path("summary").path("layers")) for (int e = 0; e < experts; e++) l[e] += layer.path("expert_tokens").path(e).asLong();
        return l;
    }

    /** The schedule named by --schedule. */
    MeshExperts.Schedule schedule() {
        return switch (schedule) {
            case "serial" -> MeshExperts.Schedule.SERIAL;
            case "eps" -> MeshExperts.Schedule.EPS;
            default -> throw new JmoeException("--schedule", "unknown schedule '" + schedule + "' (serial or eps)");
        };
    }

    /**
     * Puts the model's experts on the mesh when it has more than one device, a non-serial schedule or worker JVMs;
     * returns the backend (null when the experts run on the plain pool). {@link #finish} closes it.
     */
    ParallelExperts mesh(Model m, Path modelPath, Forward f, Placement p) {
        ParallelExperts me = meshBackend(m, modelPath, p);
        if (me != null) f.setExpertBackend(me);
        return me;
    }

    /** The mesh backend the flags ask for (null: the plain pool); {@link #finish} closes it. */
    ParallelExperts meshBackend(Model m, Path modelPath, Placement p) {
        MeshExperts.Schedule s = schedule();
        to.planner(); // checks --chunks and --transport even when no stage is needed
        if (p == null || !to.needsStage(devices, s)) return null;
        backend = to.open(m, modelPath, p, s, org.jmoe.tensor.Parallel.global().threads());
        return backend;
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
        backend = mesh(m, modelPath, f, p);
        if (stats == null) return null;
        if (c.experts == 0) throw new JmoeException("--stats", "the model has no MoE layers");
        RoutingStats s = newStats(m, modelPath, router, p);
        f.setRoutingListener(lr -> s.onLayer(lr.layer(), lr.plan()));
        final ParallelExperts be = backend;
        if (be != null) s.setStageTimes(() -> stageTimes(be, f));
        return s;
    }

    /** The {@code stage_times} section of a statistics file or a bench JSON: per layer and device, with the stage's setup. */
    static com.fasterxml.jackson.databind.node.ObjectNode stageTimes(ParallelExperts be, Forward f) {
        var o = be.times().toJson(f.routeNanosPerLayer());
        o.put("transport", be.transport());
        o.put("schedule", be.pipelined() ? "eps" : "serial");
        o.put("chunks", be.chunks());
        // the coordinator's side of the same steps: its attention blocks (the core alone too) and its MoE stages whole
        Forward.StageTimes st = f.stageTimes();
        var fw = o.putObject("forward");
        fw.put("attention_ms", st.attentionNanos() / 1e6);
        fw.put("attention_core_ms", st.attentionCoreNanos() / 1e6);
        fw.put("route_ms", st.routeNanos() / 1e6);
        fw.put("experts_ms", st.expertNanos() / 1e6);
        fw.put("moe_ms", st.moeNanos() / 1e6);
        return o;
    }

    static RoutingStats newStats(Model m, Path modelPath, String spec, Placement p) {
        ModelConfig c = m.config();
        return new RoutingStats(new RoutingStats.Header(modelPath.toString(), c.arch, spec, c.routingDescription(),
                c.experts, c.expertsUsed, c.hidden, 4L * c.hidden), p);
    }

    /** The mesh backend {@link #apply} attached, or null. */
    ParallelExperts backend;

    /** Writes the statistics file (if any) and stops the mesh's threads. */
    void finish(RoutingStats s) {
        to.close();
        backend = null;
        if (s != null && stats != null) {
            s.write(stats);
            System.err.printf("jmoe: wrote routing statistics of %d steps to %s (imbalance score %.3f, mean k %.2f)%n",
                    s.steps().size(), stats, s.meanImbalanceScore(), s.meanK());
        }
    }
}
