package org.jmoe.cluster;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import org.jmoe.JmoeException;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * Measures the gRPC transport between two JVM endpoints on loopback, as the workers use it (same marshalling,
 * same message limits): the median round trip of a tiny message (latency) and the round trip of a large one
 * (bandwidth, counting the bytes once each way). A server in this JVM answers; the figures are an upper bound for
 * workers on other hosts, whose network adds its own latency and bandwidth limit.
 */
public final class LoopbackProbe {
    /** Latency (one-way, microseconds: half the median round trip) and bandwidth (GB/s). */
    public record Result(double latencyUs, double bandwidthGbs) { }

    private LoopbackProbe() {}

    /** Steady state: the best of three rounds (the transport's code is still being compiled in the first). */
    public static Result measure(boolean quick) {
        Result best = null;
        for (int i = 0; i < (quick ? 1 : 3); i++) {
            Result r = round(quick);
            best = best == null ? r : new Result(Math.min(best.latencyUs(), r.latencyUs()), Math.max(best.bandwidthGbs(), r.bandwidthGbs()));
        }
        return best;
    }

    private static Result round(boolean quick) {
        ServerServiceDefinition def = ServerServiceDefinition.builder(ExpertService.NAME)
                .addMethod(ExpertService.ECHO, ServerCalls.asyncUnaryCall((req, obs) -> {
                    obs.onNext(req);
                    obs.onCompleted();
                })).build();
        Server server;
        try {
            server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).maxInboundMessageSize(ExpertService.MAX_MESSAGE).flowControlWindow(ExpertService.FLOW_WINDOW)
                    .addService(def).build().start();
        } catch (IOException e) {
            throw new JmoeException("calibrate", "cannot listen on loopback: " + e.getMessage());
        }
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext()
                .maxInboundMessageSize(ExpertService.MAX_MESSAGE).flowControlWindow(ExpertService.FLOW_WINDOW).build();
        try {
            byte[] tiny = new byte[64];
            int n = quick ? 100 : 1000;
            byte[] big = new byte[quick ? 4 << 20 : 32 << 20];
            // warm-up (connection, JIT of the transport's code paths): the first hundreds of calls run several times slower
            long warm = System.nanoTime();
            for (int i = 0; System.nanoTime() - warm < (quick ? 500_000_000L : 1_000_000_000L); i++) call(ch, i % 50 == 49 ? big : tiny);
            long[] t = new long[n];
            for (int i = 0; i < n; i++) {
                long a = System.nanoTime();
                call(ch, tiny);
                t[i] = System.nanoTime() - a;
            }
            Arrays.sort(t);
            double latencyUs = t[n / 2] / 2e3;
            long best = Long.MAX_VALUE;
            for (int i = 0; i < (quick ? 2 : 5); i++) {
                long a = System.nanoTime();
                call(ch, big);
                best = Math.min(best, System.nanoTime() - a);
            }
            double bandwidthGbs = 2.0 * big.length / best;
            return new Result(latencyUs, bandwidthGbs);
        } finally {
            ch.shutdownNow();
            server.shutdownNow();
        }
    }

    private static byte[] call(ManagedChannel ch, byte[] m) {
        return ClientCalls.blockingUnaryCall(ch, ExpertService.ECHO, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS), m);
    }
}
