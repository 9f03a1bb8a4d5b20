package org.jmoe.cluster;

import com.google.common.util.concurrent.ListenableFuture;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import org.jmoe.JmoeException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Measures the expert stage's transport as {@code --local-workers D} runs it on this machine: D worker JVMs (started
 * as {@link LocalWorkers} starts them, each sized for its share of the cores) fed by this process, one request per
 * worker per layer, all sent before any answer is awaited. Each round does what {@link RemoteExperts} does for a
 * serial layer: gathers every worker's rows, encodes them, sends them, and decodes and scatters the answers; the
 * workers ({@link EchoWorker}) decode and encode as real workers do and, in place of the experts, do a fixed amount
 * of compute worth a set time on an idle core, so the transfers of one worker run beside another's compute, as they
 * do in a layer, and the compute they displace lengthens the round as it lengthens a layer.
 *
 * <p>From rounds of one row per worker (the fixed cost) and of layer-sized messages, at every busy time: a latency
 * per worker and message (the fixed cost, busy time taken out, over 2·D messages) and the bandwidth of the
 * coordinator's side (all rows out and back over the extra time of the large rounds). The simulator's
 * {@code local-cpu:workers=D} charges a layer's dispatch and combine with these (docs/SIMULATION.md).
 */
public final class WorkerLinkProbe {
    /**
     * The figures at one busy time.
     *
     * @param busyMs       each worker's compute stand-in per request
     * @param smallMs      median round of one row per worker
     * @param largeMs      median round of {@code rows} rows per worker
     * @param latencyUs    per worker and message: (small − busy) / (2·workers)
     * @param bandwidthGbs the coordinator's side: 2·workers·rows·hidden·4 bytes / (large − small)
     */
    public record Point(double busyMs, double smallMs, double largeMs, double latencyUs, double bandwidthGbs) { }

    /**
     * D workers, rows of {@code hidden} floats ({@code rows} per worker in the large rounds); the latency and
     * bandwidth from the rounds of every busy time pooled (medians of the rounds' time beyond the busy time), and the
     * figures of each busy time alone.
     */
    public record Result(int workers, int hidden, int rows, double latencyUs, double bandwidthGbs, List<Point> points) { }

    private static double latencyUs(double smallExtraMs, int workers) {
        return Math.max(1, smallExtraMs * 1e3 / (2.0 * workers));
    }

    private static double bandwidthGbs(double bytes, double largeMinusSmallMs) {
        return bytes / (Math.max(0.01, largeMinusSmallMs) * 1e-3) / 1e9;
    }

    private WorkerLinkProbe() {}

    /**
     * The workers' compute stand-ins, in milliseconds: from none through a decode step's expert time to a prefill
     * layer's, so that the transfers run beside the workers' compute as they do in decode and in prefill.
     */
    static final double[] BUSY_MS = {0, 1, 4, 16, 48};

    /** D workers, rows of {@code hidden} floats, about 2 MB per worker per large round. */
    public static Result measure(int workers, int hidden, boolean quick) {
        if (workers < 1 || hidden < 1) throw new IllegalArgumentException("workers and hidden must be >= 1");
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / workers);
        int rows = Math.max(1, (2 << 20) / (hidden * 4));
        Path dir;
        try {
            dir = Files.createTempDirectory("jmoe-link-probe");
        } catch (IOException e) {
            throw new JmoeException("calibrate", "cannot create a temporary directory: " + e.getMessage());
        }
        List<Process> procs = new ArrayList<>();
        List<ManagedChannel> channels = new ArrayList<>();
        try {
            for (int k = 0; k < workers; k++) {
                List<String> cmd = LocalWorkers.javaCommand(threads, EchoWorker.class);
                cmd.add(dir.resolve("port" + k).toString());
                procs.add(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("worker" + k + ".log").toFile()).start());
            }
            long deadline = System.currentTimeMillis() + 60_000;
            for (int k = 0; k < workers; k++) {
                Path pf = dir.resolve("port" + k);
                while (!Files.exists(pf)) {
                    if (!procs.get(k).isAlive() || System.currentTimeMillis() > deadline) {
                        throw new JmoeException("calibrate", "the transport probe's worker " + k + " did not start");
                    }
                    Thread.sleep(20);
                }
                channels.add(NettyChannelBuilder.forAddress("127.0.0.1", Integer.parseInt(Files.readString(pf).strip())).usePlaintext()
                        .maxInboundMessageSize(ExpertService.MAX_MESSAGE).flowControlWindow(ExpertService.FLOW_WINDOW).build());
            }
            float[] xb = new float[workers * rows * hidden], out = new float[xb.length];
            SplittableRandom rnd = new SplittableRandom(7);
            for (int i = 0; i < xb.length; i++) xb[i] = (float) rnd.nextDouble();
            // warm-up without busy time, as long as bench-ep's: the transport's code runs compiled only after hundreds of calls
            long warm = System.nanoTime(), warmNs = quick ? 1_000_000_000L : 8_000_000_000L;
            for (int i = 0; System.nanoTime() - warm < warmNs; i++) round(channels, xb, out, hidden, i % 4 == 3 ? 1 : rows, rows, 0);
            int nSmall = quick ? 7 : 31, nLarge = quick ? 3 : 15;
            List<Point> points = new ArrayList<>();
            double bytes = 2.0 * workers * rows * hidden * 4;
            double[] smallExtra = new double[BUSY_MS.length * nSmall], largeExtra = new double[BUSY_MS.length * nLarge];
            for (int b = 0; b < BUSY_MS.length; b++) {
                double busyMs = BUSY_MS[b];
                int busyUs = (int) Math.round(busyMs * 1000);
                double[] small = new double[nSmall], large = new double[nLarge];
                for (int i = 0; i < nSmall; i++) small[i] = round(channels, xb, out, hidden, 1, rows, busyUs) / 1e6;
                for (int i = 0; i < nLarge; i++) large[i] = round(channels, xb, out, hidden, rows, rows, busyUs) / 1e6;
                for (int i = 0; i < nSmall; i++) smallExtra[b * nSmall + i] = small[i] - busyMs;
                for (int i = 0; i < nLarge; i++) largeExtra[b * nLarge + i] = large[i] - busyMs;
                Arrays.sort(small);
                Arrays.sort(large);
                double sm = small[nSmall / 2], lg = large[nLarge / 2];
                points.add(new Point(busyMs, sm, lg, latencyUs(sm - busyMs, workers), bandwidthGbs(bytes, lg - sm)));
            }
            // the figures: every busy time's rounds pooled (one busy time's medians move by milliseconds between runs)
            Arrays.sort(smallExtra);
            Arrays.sort(largeExtra);
            double s = smallExtra[smallExtra.length / 2], l = largeExtra[largeExtra.length / 2];
            return new Result(workers, hidden, rows, latencyUs(s, workers), bandwidthGbs(bytes, l - s), points);
        } catch (IOException e) {
            throw new JmoeException("calibrate", "cannot start the transport probe's workers: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JmoeException("calibrate", "interrupted");
        } finally {
            for (ManagedChannel c : channels) c.shutdownNow();
            for (Process p : procs) p.destroyForcibly();
            for (Process p : procs) {
                try {
                    p.waitFor();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try (var st = Files.walk(dir)) {
                st.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException ignored) {
                // temporary files only
            }
        }
    }

    /** One layer's round trip to every worker, {@code n} rows each (of {@code stride} in xb), as RemoteExperts runs it. */
    private static long round(List<ManagedChannel> channels, float[] xb, float[] out, int hidden, int n, int stride, int busyUs) {
        long t0 = System.nanoTime();
        List<ListenableFuture<byte[]>> fs = new ArrayList<>();
        for (int k = 0; k < channels.size(); k++) {
            float[] x = new float[n * hidden];
            for (int q = 0; q < n; q++) System.arraycopy(xb, (k * stride + q) * hidden, x, q * hidden, hidden);
            byte[] req = ExpertWire.request(busyUs, hidden, new int[]{0}, new int[]{n}, x, 0, n);
            fs.add(ClientCalls.futureUnaryCall(channels.get(k).newCall(ExpertService.COMPUTE,
                    CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS).withWaitForReady()), req));
        }
        for (int k = 0; k < fs.size(); k++) {
            ExpertWire.Response r;
            try {
                r = ExpertWire.parseResponse(fs.get(k).get());
            } catch (Exception e) {
                throw new JmoeException("calibrate", "the transport probe's worker " + k + " failed: " + e.getMessage());
            }
            for (int q = 0; q < n; q++) System.arraycopy(r.y(), q * hidden, out, (k * stride + q) * hidden, hidden);
        }
        return System.nanoTime() - t0;
    }
}
