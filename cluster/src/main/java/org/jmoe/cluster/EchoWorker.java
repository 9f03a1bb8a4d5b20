package org.jmoe.cluster;

import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A stand-in worker for {@link WorkerLinkProbe}: {@code EchoWorker PORT_FILE}. It serves {@code Compute} as a worker
 * does, on one thread, decoding the request and encoding the response as {@link WorkerServer} does, but its experts
 * are the identity and, in their place, it computes for as many microseconds as the request's layer field says.
 * That compute is a fixed amount of work (its rate measured at start, the worker alone on its core), not a spin until
 * a deadline: like the experts' GEMMs, it takes longer when the transport's threads (this worker's, another's, the
 * coordinator's) take its core, and the probe's rounds see that time.
 */
public final class EchoWorker {
    private EchoWorker() {}

    /** A chain of dependent multiply-adds (a linear congruential step each): {@code n} steps of fixed work. */
    static long work(long n, long x) {
        for (long i = 0; i < n; i++) x = x * 6364136223846793005L + 1442695040888963407L;
        return x;
    }

    /** Steps of {@link #work} per microsecond on this core: the best of several timed runs, after a warm-up. */
    static double stepsPerUs() {
        long sink = work(50_000_000, 1); // compiled before it is timed
        double best = 0;
        long n = 10_000_000;
        for (int i = 0; i < 7; i++) {
            long t0 = System.nanoTime();
            sink ^= work(n, i);
            best = Math.max(best, n / ((System.nanoTime() - t0) / 1e3));
        }
        return sink == 42 ? best + 1e-9 : best;
    }

    public static void main(String[] args) throws Exception {
        Path portFile = Path.of(args[0]);
        double rate = stepsPerUs();
        ExecutorService compute = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "jmoe-echo-compute");
            t.setDaemon(true);
            return t;
        });
        ServerServiceDefinition def = ServerServiceDefinition.builder(ExpertService.NAME)
                .addMethod(ExpertService.COMPUTE, ServerCalls.asyncUnaryCall((req, obs) -> {
                    ExpertWire.Request r = ExpertWire.parseRequest(req);
                    long x = work((long) (Math.max(0, r.layer()) * rate), r.totalRows());
                    obs.onNext(ExpertWire.response(r.hidden(), r.x(), r.totalRows(), x & 1));
                    obs.onCompleted();
                }))
                .build();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).maxInboundMessageSize(ExpertService.MAX_MESSAGE)
                .flowControlWindow(ExpertService.FLOW_WINDOW).executor(compute).addService(def).build().start();
        Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
        Files.writeString(tmp, Integer.toString(server.getPort()));
        Files.move(tmp, portFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        server.awaitTermination();
    }
}
