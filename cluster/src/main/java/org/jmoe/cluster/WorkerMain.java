package org.jmoe.cluster;

import org.jmoe.JmoeException;
import org.jmoe.calibrate.Calibration;
import org.jmoe.model.ExpertKernels;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.tensor.Parallel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;

/**
 * Starts a worker: {@code WorkerMain HOST:PORT MODEL EXPERTS [PORT_FILE [THREADS [KERNEL]]]}; {@code EXPERTS} is a list of
 * ids and ranges ({@code 0-7,12}); with a port file the bound port is written there once the worker listens (how
 * {@link LocalWorkers} learns ports when it asks for port 0). {@code jmoe worker} is the same with flags.
 */
public final class WorkerMain {
    private WorkerMain() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: WorkerMain HOST:PORT MODEL EXPERTS [PORT_FILE [THREADS [KERNEL]]]");
            System.exit(2);
        }
        try {
            if (args.length > 4) Parallel.setGlobalThreads(Integer.parseInt(args[4]));
            ExpertKernels.setDefaultChoice(ExpertKernels.Choice.parse(args.length > 5 ? args[5] : "auto"));
            Calibration c = Calibration.loadOrDefaults();
            ExpertKernels.setCrossover(c.groupedMinActivePerThread(), c.expertKernelsDtype());
            run(args[0], Path.of(args[1]), args[2], args.length > 3 && !args[3].isEmpty() ? Path.of(args[3]) : null);
        } catch (JmoeException | IllegalArgumentException e) {
            System.err.println("jmoe: " + e.getMessage());
            System.exit(1);
        }
    }

    /** Serves until the process is stopped. */
    public static void run(String listen, Path modelPath, String experts, Path portFile) throws Exception {
        run(listen, modelPath, experts, portFile, ClusterSecurity.server(null, null), null);
    }

    /** As above with transport credentials (TLS or plaintext) and an optional cluster token the coordinator must send. */
    public static void run(String listen, Path modelPath, String experts, Path portFile, io.grpc.ServerCredentials credentials, String clusterToken) throws Exception {
        String[] hp = Peers.hostPort(listen, "--listen");
        Model m = ModelLoader.load(modelPath);
        BitSet served = parseExperts(experts, m.config().experts);
        try (WorkerServer w = new WorkerServer(m, served, hp[0], Integer.parseInt(hp[1]), credentials, clusterToken)) {
            if (portFile != null) {
                Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
                Files.writeString(tmp, Integer.toString(w.port()));
                Files.move(tmp, portFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            System.err.printf("jmoe: worker on %s:%d serving experts %s of %s (%s%s)%n", hp[0], w.port(), experts, modelPath.getFileName(),
                    credentials instanceof io.grpc.InsecureServerCredentials ? "plaintext" : "TLS", clusterToken != null ? ", cluster token required" : "");
            w.awaitTermination();
        }
    }

    /** {@code 0-7,12} → a set within 0..experts−1. */
    public static BitSet parseExperts(String s, int experts) {
        BitSet b = new BitSet();
        for (String part : s.split(",")) {
            String p = part.strip();
            try {
                int dash = p.indexOf('-');
                int a = Integer.parseInt(dash < 0 ? p : p.substring(0, dash)), z = dash < 0 ? a : Integer.parseInt(p.substring(dash + 1));
                if (a < 0 || z >= experts || a > z) throw new JmoeException("--experts", "'" + p + "' is not within 0.." + (experts - 1));
                b.set(a, z + 1);
            } catch (NumberFormatException e) {
                throw new JmoeException("--experts", "'" + p + "' is not an expert id or range (e.g. 0-7,12)");
            }
        }
        return b;
    }
}
