package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.calibrate.Calibration;
import org.jmoe.cluster.ClusterSecurity;
import org.jmoe.cluster.LocalWorkers;
import org.jmoe.cluster.Peers;
import org.jmoe.cluster.RemoteExperts;
import org.jmoe.model.ExpertKernels;
import org.jmoe.model.Model;
import org.jmoe.moe.Placement;
import org.jmoe.parallel.ChunkPlanner;
import org.jmoe.parallel.Mesh;
import org.jmoe.parallel.MeshExperts;
import org.jmoe.parallel.ParallelExperts;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How the devices of a mesh are realised: thread groups of this JVM ({@code local}) or worker JVMs over gRPC
 * ({@code --peers} or {@code --local-workers N}), and the EPS chunk count. Opens the expert stage and owns what it
 * started (meshes, local worker processes) until {@link #close}.
 */
final class TransportOptions implements AutoCloseable {
    @Option(names = "--transport", paramLabel = "T", defaultValue = "local",
            description = "How devices exchange rows: local (thread groups of this JVM) or grpc (worker JVMs: --peers or --local-workers) (default: ${DEFAULT-VALUE}).")
    String transport;

    @Option(names = "--peers", paramLabel = "FILE|LIST",
            description = "Worker JVMs ('jmoe worker'), as a file of host:port lines or host:port,host:port; implies --transport grpc. Worker k serves devices k*D/N .. (k+1)*D/N-1.")
    String peers;

    @Option(names = "--local-workers", paramLabel = "N",
            description = "Start N worker JVMs on loopback for this run and stop them at exit; implies --transport grpc. --devices must be a multiple of N.")
    Integer localWorkers;

    @Option(names = "--worker-threads", paramLabel = "N", description = "Threads of each --local-workers JVM (default: cores / N, at least 1).")
    Integer workerThreads;

    @Option(names = "--deadline", paramLabel = "MS", defaultValue = "120000",
            description = "Deadline of every call to a worker, in milliseconds (default: ${DEFAULT-VALUE}).")
    long deadlineMs;

    @Option(names = "--chunks", paramLabel = "N|auto", defaultValue = "auto",
            description = "Token chunks of the eps schedule: a count, or auto (N* = sqrt(C/k) from measured times and the calibrated per-chunk overhead) (default: ${DEFAULT-VALUE}).")
    String chunks;

    @Option(names = "--tls-ca", paramLabel = "FILE.pem", description = "Talk to --peers over TLS, trusting this PEM certificate or CA (the workers' --tls-keystore).")
    Path tlsCa;

    @Option(names = "--cluster-token-file", paramLabel = "FILE", description = "Send this shared token (first line) to --peers workers started with the same file.")
    Path tokenFile;

    private final List<AutoCloseable> opened = new ArrayList<>();
    private LocalWorkers workers;
    private List<String> addresses;

    /** The transport in effect: {@code grpc} when --peers or --local-workers is given. */
    String resolved() {
        if (!transport.equals("local") && !transport.equals("grpc")) {
            throw new JmoeException("--transport", "unknown transport '" + transport + "' (local or grpc)");
        }
        if (peers != null && localWorkers != null) throw new JmoeException("--peers", "give --peers or --local-workers, not both");
        if ((tlsCa != null || tokenFile != null) && peers == null) {
            throw new JmoeException(tlsCa != null ? "--tls-ca" : "--cluster-token-file", "only used with --peers (--local-workers run on loopback, plaintext)");
        }
        boolean remote = peers != null || localWorkers != null;
        if (transport.equals("grpc") && !remote) throw new JmoeException("--transport", "grpc needs --peers FILE|LIST or --local-workers N");
        return remote ? "grpc" : "local";
    }

    /** The EPS chunk planner, its per-chunk overhead k from the calibration for this transport. */
    ChunkPlanner planner() {
        Calibration cal = ModelOptions.calibration();
        double k = cal.epsChunkOverheadUs() + cal.transport(resolved()).latencyUs();
        return ChunkPlanner.parse(chunks, k);
    }

    /** Whether the run needs an expert stage beyond the plain pool. */
    boolean needsStage(int devices, MeshExperts.Schedule s) {
        return resolved().equals("grpc") || devices > 1 || s == MeshExperts.Schedule.EPS;
    }

    /** Opens the expert stage of {@code m} over placement {@code p}; closed by {@link #close}. */
    ParallelExperts open(Model m, Path modelPath, Placement p, MeshExperts.Schedule s, int threads) {
        ChunkPlanner planner = planner();
        if (resolved().equals("local")) {
            Mesh mesh = new Mesh(p, threads);
            opened.add(mesh);
            MeshExperts me = new MeshExperts(m.config(), mesh, s, planner);
            opened.add(me);
            return me;
        }
        String token = tokenFile == null ? null : ClusterSecurity.readSecret(tokenFile, "cluster token");
        RemoteExperts re = RemoteExperts.connect(m.config(), p, addresses(modelPath, p), planner, s == MeshExperts.Schedule.EPS, deadlineMs,
                ClusterSecurity.channel(tlsCa), token);
        opened.add(re);
        return re;
    }

    /** Worker addresses: --peers, or the --local-workers started now (once per run). */
    private List<String> addresses(Path modelPath, Placement p) {
        if (addresses != null) return addresses;
        if (peers != null) return addresses = Peers.parse(peers);
        int n = localWorkers;
        if (n < 1) throw new JmoeException("--local-workers", "must be >= 1, got " + n);
        int D = p.devices();
        if (D % n != 0) throw new JmoeException("--local-workers", "--devices " + D + " is not a multiple of " + n + " workers");
        int threads = workerThreads != null ? workerThreads : Math.max(1, Runtime.getRuntime().availableProcessors() / n);
        if (threads < 1) throw new JmoeException("--worker-threads", "must be >= 1, got " + threads);
        workers = new LocalWorkers(modelPath, expertLists(p, n), threads, 120_000, ExpertKernels.defaultChoice().name().toLowerCase(java.util.Locale.ROOT));
        return addresses = workers.addresses();
    }

    /** Worker k's experts ({@code 0,1,2,12}): those of devices k*D/n .. (k+1)*D/n-1, replicas included. */
    static List<String> expertLists(Placement p, int n) {
        int per = p.devices() / n;
        List<String> out = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            StringBuilder b = new StringBuilder();
            for (int e = 0; e < p.experts(); e++) {
                boolean mine = false;
                for (int d : p.devicesOf(e)) mine |= d / per == k; // replicas too: a worker serves every expert on its devices
                if (mine) b.append(b.isEmpty() ? "" : ",").append(e);
            }
            if (b.isEmpty()) throw new JmoeException("--local-workers", "worker " + k + " would serve no expert (more devices than experts?)");
            out.add(b.toString());
        }
        return out;
    }

    /** Closes the stages opened so far (meshes, connections) but keeps the local workers for the next one. */
    void release() {
        for (int i = opened.size() - 1; i >= 0; i--) {
            try {
                opened.get(i).close();
            } catch (Exception ignored) {
                // closing what this run opened; the run's own error (if any) is what matters
            }
        }
        opened.clear();
    }

    @Override
    public void close() {
        release();
        if (workers != null) workers.close();
        workers = null;
        addresses = null;
    }
}
