package org.jmoe.cluster;

import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import org.jmoe.JmoeException;
import org.jmoe.model.ExpertKernels;
import org.jmoe.model.LayerWeights;
import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.tensor.Parallel;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.BitSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * An expert worker: holds a model's weights (memory-mapped) and serves the experts it was given, computing each
 * request's rows as {@code LocalExperts} does (one GEMM per projection per expert over its rows) so results are
 * bit-identical to a single-JVM run. Requests are computed one at a time on one thread (the next one's bytes
 * arrive meanwhile); the pool's threads do the GEMMs.
 */
public final class WorkerServer implements AutoCloseable {
    private final Model model;
    private final BitSet served;
    private final Server server;
    private final ExecutorService compute = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "jmoe-worker-compute");
        t.setDaemon(true);
        return t;
    });
    private final ExpertKernels kernels;
    private float[] y = new float[0];

    public WorkerServer(Model model, BitSet served, String host, int port) {
        this(model, served, host, port, ClusterSecurity.server(null, null), null);
    }

    /** With transport credentials (TLS or plaintext, {@link ClusterSecurity}) and an optional cluster token. */
    public WorkerServer(Model model, BitSet served, String host, int port, io.grpc.ServerCredentials credentials, String clusterToken) {
        this.model = model;
        this.served = (BitSet) served.clone();
        ModelConfig c = model.config();
        this.kernels = new ExpertKernels(c.hidden, c.expertFfn);
        if (c.experts == 0) throw new JmoeException(model.path().toString(), "the model has no experts to serve");
        if (served.isEmpty() || served.length() > c.experts) throw new JmoeException("--experts", "must name experts within 0.." + (c.experts - 1));
        ServerServiceDefinition def = ServerServiceDefinition.builder(ExpertService.NAME)
                .addMethod(ExpertService.COMPUTE, ServerCalls.asyncUnaryCall((req, obs) -> {
                    try {
                        obs.onNext(compute(req));
                        obs.onCompleted();
                    } catch (JmoeException | IllegalArgumentException e) {
                        obs.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                    } catch (RuntimeException e) {
                        obs.onError(Status.INTERNAL.withDescription(e.toString()).asRuntimeException());
                    }
                }))
                .addMethod(ExpertService.ECHO, ServerCalls.asyncUnaryCall((req, obs) -> {
                    obs.onNext(req);
                    obs.onCompleted();
                }))
                .addMethod(ExpertService.INFO, ServerCalls.asyncUnaryCall((req, obs) -> {
                    obs.onNext(ExpertWire.info(info()));
                    obs.onCompleted();
                }))
                .build();
        try {
            this.server = NettyServerBuilder.forAddress(new InetSocketAddress(host, port), credentials).maxInboundMessageSize(ExpertService.MAX_MESSAGE).flowControlWindow(ExpertService.FLOW_WINDOW)
                    .executor(compute).addService(io.grpc.ServerInterceptors.intercept(def, ClusterSecurity.requireToken(clusterToken))).build().start();
        } catch (IOException e) {
            throw new JmoeException("--listen", "cannot listen on " + host + ":" + port + ": " + e.getMessage());
        }
    }

    public int port() { return server.getPort(); }

    public ExpertWire.Info info() {
        ModelConfig c = model.config();
        return new ExpertWire.Info(c.layers, c.hidden, c.experts, c.expertFfn, c.vocab, served.stream().toArray(), model.path().getFileName().toString());
    }

    /** Runs one request: for each expert group, SwiGLU over its rows. */
    byte[] compute(byte[] message) {
        long t0 = System.nanoTime();
        ExpertWire.Request r = ExpertWire.parseRequest(message);
        ModelConfig c = model.config();
        if (r.hidden() != c.hidden) throw new JmoeException("request", "hidden size " + r.hidden() + ", the model's is " + c.hidden);
        if (r.layer() < 0 || r.layer() >= c.layers || !c.isMoeLayer(r.layer())) throw new JmoeException("request", "layer " + r.layer() + " is not a MoE layer of the model");
        LayerWeights w = model.layer(r.layer());
        int H = c.hidden, total = r.totalRows(), n = r.experts().length;
        if (y.length < total * H) y = new float[total * H];
        int[] start = new int[n];
        int at = 0;
        for (int i = 0; i < n; i++) {
            int e = r.experts()[i];
            if (e < 0 || e >= c.experts || !served.get(e)) throw new JmoeException("request", "expert " + e + " is not served by this worker");
            start[i] = at;
            at += r.rows()[i];
        }
        kernels.run(w, r.experts(), start, r.rows(), n, r.x(), y, Parallel.global(), ExpertKernels.defaultChoice());
        return ExpertWire.response(H, y, total, System.nanoTime() - t0);
    }

    /** Blocks until the server stops. */
    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        server.shutdownNow();
        compute.shutdownNow();
    }
}
