package org.jmoe.cluster;

import org.jmoe.JmoeException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts N worker JVMs on loopback for one run (as {@code torchrun --nproc-per-node} does) and stops them when
 * closed or when this JVM exits. Each runs {@link WorkerMain} with the experts it is to serve, on a free port it
 * reports through a file.
 */
public final class LocalWorkers implements AutoCloseable {
    private final List<Process> procs = new ArrayList<>();
    private final List<String> addresses = new ArrayList<>();
    private final Path dir;
    private final Thread hook;

    /** {@code experts.get(k)} is worker k's expert list ({@code 0-7,12}); {@code threads} per worker. */
    public LocalWorkers(Path model, List<String> experts, int threads, long startTimeoutMs) {
        this(model, experts, threads, startTimeoutMs, "auto");
    }

    /** As above, the workers running expert kernel {@code kernel} (auto, grouped or dense). */
    public LocalWorkers(Path model, List<String> experts, int threads, long startTimeoutMs, String kernel) {
        try {
            dir = Files.createTempDirectory("jmoe-workers");
        } catch (IOException e) {
            throw new JmoeException("--local-workers", "cannot create a temporary directory: " + e.getMessage());
        }
        hook = new Thread(this::stopAll, "jmoe-stop-workers");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            for (int k = 0; k < experts.size(); k++) {
                Path portFile = dir.resolve("port" + k), log = dir.resolve("worker" + k + ".log");
                List<String> cmd = javaCommand(threads, WorkerMain.class);
                cmd.addAll(List.of("127.0.0.1:0", model.toAbsolutePath().toString(), experts.get(k), portFile.toString(), Integer.toString(threads), kernel));
                procs.add(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start());
            }
            long deadline = System.currentTimeMillis() + startTimeoutMs;
            for (int k = 0; k < experts.size(); k++) {
                Path portFile = dir.resolve("port" + k);
                while (!Files.exists(portFile)) {
                    Process p = procs.get(k);
                    if (!p.isAlive()) throw new JmoeException("worker " + k, "exited with code " + p.exitValue() + " at start: " + tail(dir.resolve("worker" + k + ".log")));
                    if (System.currentTimeMillis() > deadline) throw new JmoeException("worker " + k, "did not start listening within " + startTimeoutMs + " ms");
                    Thread.sleep(20);
                }
                addresses.add("127.0.0.1:" + Files.readString(portFile).strip());
            }
        } catch (IOException e) {
            close();
            throw new JmoeException("--local-workers", "cannot start a worker JVM: " + e.getMessage());
        } catch (InterruptedException e) {
            close();
            Thread.currentThread().interrupt();
            throw new JmoeException("--local-workers", "interrupted while starting workers");
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Extra options for every worker JVM (space-separated), after the defaults: {@value}. */
    public static final String JAVA_OPTS_ENV = "JMOE_WORKER_JAVA_OPTS";

    /**
     * How a worker JVM is sized for the cores it is given. The JVM sees {@code threads} processors, so its GC,
     * compiler and transport threads match its share of the machine instead of the whole machine's count. Its young
     * generation is fixed and its initial heap touched at start ({@code -XX:+AlwaysPreTouch}): every request
     * allocates its rows in and out (megabytes per layer), and with the default sizing the heap kept growing into
     * fresh pages for as long as a benchmark ran, each page faulted in at first touch (about a quarter of the
     * expert thread's time on a 2-core virtual machine, measured). Larger requests still fit: the heap grows past
     * {@code -Xms} into the old generation when it must.
     */
    static List<String> jvmSizing(int threads) {
        return List.of("-XX:ActiveProcessorCount=" + Math.max(1, threads), "-Xmn256m", "-Xms384m", "-XX:+AlwaysPreTouch");
    }

    /** The command line of a worker JVM of {@code threads} threads running {@code main} (arguments to be added). */
    static List<String> javaCommand(int threads, Class<?> main) {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-XX:+UseParallelGC", "-XX:LoopUnrollLimit=0", "-XX:ObjectAlignmentInBytes=64"));
        cmd.addAll(jvmSizing(threads));
        String extra = System.getenv(JAVA_OPTS_ENV);
        if (extra != null && !extra.isBlank()) cmd.addAll(List.of(extra.strip().split("\\s+")));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        return cmd;
    }

    public List<String> addresses() { return List.copyOf(addresses); }

    /** Worker k's process (tests kill and pause it). */
    public Process process(int k) { return procs.get(k); }

    private static String tail(Path log) {
        try {
            List<String> l = Files.readAllLines(log);
            return l.isEmpty() ? "(no output)" : l.getLast();
        } catch (IOException e) {
            return "(no log)";
        }
    }

    private void stopAll() {
        for (Process p : procs) p.destroyForcibly();
    }

    @Override
    public void close() {
        stopAll();
        for (Process p : procs) {
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // the JVM is already shutting down: the hook runs
        }
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // temporary files only
        }
    }
}
