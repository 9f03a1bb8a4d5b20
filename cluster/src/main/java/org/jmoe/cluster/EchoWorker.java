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
 * are the identity and, in their place, it keeps its core busy for as many microseconds as the request's layer field
 * says.
 */
public final class EchoWorker {
    private EchoWorker() {}

    public static void main(String[] args) throws Exception {
        Path portFile = Path.of(args[0]);
        ExecutorService compute = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "jmoe-echo-compute");
            t.setDaemon(true);
            return t;
        });
        ServerServiceDefinition def = ServerServiceDefinition.builder(ExpertService.NAME)
                .addMethod(ExpertService.COMPUTE, ServerCalls.asyncUnaryCall((req, obs) -> {
                    long t0 = System.nanoTime();
                    ExpertWire.Request r = ExpertWire.parseRequest(req);
                    long spin = 0;
                    long busyNs = Math.max(0, r.layer()) * 1000L;
                    while (System.nanoTime() - t0 < busyNs) spin++;
                    obs.onNext(ExpertWire.response(r.hidden(), r.x(), r.totalRows(), spin & 1));
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
