package org.jmoe.cluster;

import com.google.common.util.concurrent.ListenableFuture;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import org.jmoe.JmoeException;
import org.jmoe.model.LayerWeights;
import org.jmoe.model.ModelConfig;
import org.jmoe.moe.Placement;
import org.jmoe.moe.RoutingPlan;
import org.jmoe.parallel.ChunkPlanner;
import org.jmoe.parallel.ParallelExperts;
import org.jmoe.parallel.StageTimes;
import org.jmoe.parallel.TransportStats;
import org.jmoe.tensor.Parallel;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The coordinator's expert stage over worker JVMs (gRPC). The coordinator runs attention and routing and holds no
 * experts; the placement's D devices are spread over the N workers (worker k hosts devices k·D/N .. (k+1)·D/N − 1)
 * and each worker serves exactly its devices' experts, which is checked at start ({@link #connect}).
 *
 * <p>Per layer, each worker gets one request per chunk with the rows routed to its experts (grouped by expert, in
 * token order) and answers with their outputs; the coordinator writes them to the plan's compact rows. Serial:
 * one chunk. EPS: N token chunks, chunk i+1 sent while chunk i is awaited, so a worker computes one chunk while
 * the next is on the wire. Every call has a deadline; a worker that fails or does not answer fails the step with
 * an error naming it. Results are bit-identical to a single-JVM run (same kernels, raw float bits on the wire).
 */
public final class RemoteExperts implements ParallelExperts {
    private final int hidden;
    private final Placement placement;
    private final List<String> addresses;
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final ChunkPlanner planner;
    private final boolean pipelined;
    private final long deadlineMs;
    private final TransportStats bytes = new TransportStats();
    private final StageTimes times;
    private long wireBytes;
    private boolean tls;
    /** Per expert, the workers holding it (the primary's first). */
    private final int[][] holders;
    /** Per worker, why it is taken out of the rotation (null: up); set by failures, cleared by a successful probe. */
    private final java.util.concurrent.atomic.AtomicReferenceArray<String> down;
    /** Per worker out of the rotation: when it was last probed, and whether a probe is in flight. */
    private final long[] probedAt;
    private final java.util.concurrent.atomic.AtomicBoolean[] probing;
    /** How often a worker out of the rotation is probed ({@code Echo}) to bring it back. */
    private static final long PROBE_EVERY_NS = 1_000_000_000L;
    private long failovers;

    private RemoteExperts(ModelConfig c, Placement placement, List<String> addresses, ChunkPlanner planner, boolean pipelined, long deadlineMs) {
        this.hidden = c.hidden;
        this.placement = placement;
        this.addresses = List.copyOf(addresses);
        this.planner = pipelined ? planner : ChunkPlanner.fixed(1);
        this.pipelined = pipelined;
        this.deadlineMs = deadlineMs;
        this.times = new StageTimes(addresses.size());
        int N = addresses.size(), per = Math.max(1, placement.devices() / Math.max(1, N));
        this.holders = new int[placement.experts()][];
        for (int e = 0; e < holders.length; e++) {
            holders[e] = java.util.Arrays.stream(placement.devicesOf(e)).map(d -> d / per).distinct().toArray();
        }
        this.down = new java.util.concurrent.atomic.AtomicReferenceArray<>(N);
        this.probedAt = new long[N];
        this.probing = new java.util.concurrent.atomic.AtomicBoolean[N];
        for (int k = 0; k < N; k++) probing[k] = new java.util.concurrent.atomic.AtomicBoolean();
    }

    /**
     * Connects to the workers, checks each serves {@code c}'s model shape and exactly the experts the placement gives
     * its devices (no expert missing, none owned twice), and returns the backend.
     */
    public static RemoteExperts connect(ModelConfig c, Placement placement, List<String> addresses, int chunks, long deadlineMs) {
        return connect(c, placement, addresses, ChunkPlanner.fixed(chunks), chunks > 1, deadlineMs);
    }

    /** As above, with the EPS schedule when {@code pipelined} (chunks from {@code planner}), else serial. */
    public static RemoteExperts connect(ModelConfig c, Placement placement, List<String> addresses, ChunkPlanner planner, boolean pipelined, long deadlineMs) {
        return connect(c, placement, addresses, planner, pipelined, deadlineMs, ClusterSecurity.channel(null), null);
    }

    /** As above over the given transport credentials (TLS or plaintext) with an optional cluster token. */
    public static RemoteExperts connect(ModelConfig c, Placement placement, List<String> addresses, ChunkPlanner planner, boolean pipelined,
                                        long deadlineMs, io.grpc.ChannelCredentials credentials, String clusterToken) {
        int N = addresses.size(), D = placement.devices();
        if (N == 0) throw new JmoeException("--peers", "no workers given");
        if (D % N != 0) throw new JmoeException("--devices", D + " devices do not split evenly over " + N + " workers");
        if (deadlineMs < 1) throw new JmoeException("--deadline", "must be >= 1 ms, got " + deadlineMs);
        RemoteExperts r = new RemoteExperts(c, placement, addresses, planner, pipelined, deadlineMs);
        r.tls = !(credentials instanceof io.grpc.InsecureChannelCredentials);
        try {
            BitSet covered = new BitSet();
            for (int k = 0; k < N; k++) {
                String[] hp = Peers.hostPort(addresses.get(k), "--peers");
                ManagedChannel ch = NettyChannelBuilder.forAddress(hp[0], Integer.parseInt(hp[1]), credentials).intercept(ClusterSecurity.sendToken(clusterToken))
                        .maxInboundMessageSize(ExpertService.MAX_MESSAGE).flowControlWindow(ExpertService.FLOW_WINDOW).build();
                r.channels.add(ch);
                ExpertWire.Info info = ExpertWire.parseInfo(r.call(k, ExpertService.INFO, new byte[0]));
                if (info.hidden() != c.hidden || info.experts() != c.experts || info.layers() != c.layers || info.expertFfn() != c.expertFfn) {
                    throw new JmoeException("worker " + addresses.get(k), "serves another model (" + info.name() + ": " + info.layers() + " layers, hidden "
                            + info.hidden() + ", " + info.experts() + " experts of width " + info.expertFfn() + ")");
                }
                BitSet want = new BitSet();
                for (int e = 0; e < c.experts; e++) for (int h : r.holders[e]) if (h == k) want.set(e);
                BitSet has = new BitSet();
                for (int e : info.served()) {
                    if (e < 0 || e >= c.experts) throw new JmoeException("worker " + addresses.get(k), "serves expert " + e + ", the model has " + c.experts);
                    if (!want.get(e)) {
                        throw new JmoeException("worker " + addresses.get(k), "serves expert " + e + ", which the placement puts on worker "
                                + addresses.get(r.holders[e][0]) + " (duplicate ownership)");
                    }
                    has.set(e);
                }
                BitSet missing = (BitSet) want.clone();
                missing.andNot(has);
                if (!missing.isEmpty()) throw new JmoeException("worker " + addresses.get(k), "does not serve experts " + missing + " that the placement puts on it");
                covered.or(has);
            }
            return r;
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    @Override
    public TransportStats bytes() { return bytes; }
    @Override
    public StageTimes times() { return times; }
    public long wireBytes() { return wireBytes; }
    @Override
    public int chunks() { return planner.lastBatchChunks(); }
    @Override
    public boolean pipelined() { return pipelined; }
    @Override
    public String transport() { return "grpc"; }

    private byte[] call(int k, io.grpc.MethodDescriptor<byte[], byte[]> m, byte[] req) {
        return await(k, send(k, m, req));
    }

    /**
     * Starts a call with the deadline. Expert calls wait for the connection (a worker restarted on its address is
     * reconnected to within the deadline); the start-up {@code Info} call fails fast on an unreachable peer.
     */
    private ListenableFuture<byte[]> send(int k, io.grpc.MethodDescriptor<byte[], byte[]> m, byte[] req) {
        CallOptions o = CallOptions.DEFAULT.withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS);
        if (m != ExpertService.INFO) o = o.withWaitForReady();
        return ClientCalls.futureUnaryCall(channels.get(k).newCall(m, o), req);
    }

    private byte[] await(int k, ListenableFuture<byte[]> f) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            Status s = e.getCause() instanceof StatusRuntimeException sre ? sre.getStatus() : Status.fromThrowable(e.getCause());
            // a restarted worker is retried at the next step, not after the channel's reconnect back-off
            channels.get(k).resetConnectBackoff();
            String what = switch (s.getCode()) {
                case DEADLINE_EXCEEDED -> channels.get(k).getState(false) == io.grpc.ConnectivityState.READY
                        ? "did not answer within the " + deadlineMs + " ms deadline"
                        : "is unreachable (no connection within the " + deadlineMs + " ms deadline)";
                case UNAVAILABLE -> "is unreachable (" + s.getDescription() + (tls ? ")" : "; a worker serving TLS needs --tls-ca)");
                case UNAUTHENTICATED -> "refused the call: " + s.getDescription() + " (--cluster-token-file)";
                case UNKNOWN -> "lost the connection (" + s.getDescription() + ")";
                default -> "failed: " + s.getCode() + (s.getDescription() != null ? " " + s.getDescription() : "");
            };
            // gone or silent (a replica may take over), as opposed to a live worker refusing the request
            boolean lost = switch (s.getCode()) {
                case DEADLINE_EXCEEDED, UNAVAILABLE, UNKNOWN, CANCELLED, ABORTED -> true;
                default -> false;
            };
            throw new WorkerFailure("worker " + addresses.get(k), what, k, lost);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JmoeException("worker " + addresses.get(k), "interrupted while waiting");
        }
    }

    /**
     * Runs the transport's code until it is compiled: {@code Echo} calls of {@code bytes} to every worker at once, as
     * a layer's dispatch and combine are, for about {@code millis} ms. Both ends' gRPC and HTTP/2 code (framing,
     * flow control, buffers, marshalling) runs interpreted or lightly compiled for the first hundreds of calls: a
     * 2 MB round trip between two JVMs on loopback took 15-23 ms over the first hundred calls and 4-6 ms after
     * about 600 (measured on 2 cores), so a benchmark that starts cold times the JIT, not the transport. Returns
     * the rounds made. A worker that fails fails the warm-up, naming it.
     */
    public int warmUp(long millis, int bytes) {
        byte[] payload = new byte[Math.max(1, bytes)];
        long end = System.nanoTime() + millis * 1_000_000L;
        int rounds = 0;
        while (System.nanoTime() < end) {
            List<ListenableFuture<byte[]>> fs = new ArrayList<>();
            for (int k = 0; k < channels.size(); k++) fs.add(send(k, ExpertService.ECHO, payload));
            for (int k = 0; k < fs.size(); k++) await(k, fs.get(k));
            rounds++;
        }
        return rounds;
    }

    /** A worker's call failed; {@code lost} when the worker is gone or silent, so a replica may take its rows. */
    static final class WorkerFailure extends JmoeException {
        final int worker;
        final boolean lost;

        WorkerFailure(String subject, String what, int worker, boolean lost) {
            super(subject, what);
            this.worker = worker;
            this.lost = lost;
        }
    }

    /** Layers that were run again on replicas after a worker was lost. */
    public long failovers() { return failovers; }

    /** Workers taken out of the rotation after a failure, with the reason (empty when all are up). */
    public java.util.Map<String, String> downWorkers() {
        java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
        for (int k = 0; k < down.length(); k++) if (down.get(k) != null) m.put(addresses.get(k), down.get(k));
        return m;
    }

    /**
     * Runs the layer on the workers. A worker lost during the layer (unreachable, or silent past the deadline) is
     * taken out of the rotation and the whole layer is run again with its experts on live replicas, when every
     * routed expert has one; otherwise the step fails naming the worker. Outstanding calls are cancelled either
     * way. A worker out of the rotation comes back once its connection is ready again; an expert whose holders are
     * all out is still tried on its primary (it may have just restarted).
     */
    @Override
    public void compute(int layer, LayerWeights w, RoutingPlan plan, float[] xb, float[] slotOut, Parallel pool) {
        for (int k = 0; k < down.length(); k++) if (down.get(k) != null) probe(k);
        for (int attempt = 0; ; attempt++) {
            List<ListenableFuture<byte[]>> outstanding = new ArrayList<>();
            try {
                computeOnce(layer, plan, xb, slotOut, owners(plan), outstanding);
                return;
            } catch (WorkerFailure f) {
                for (ListenableFuture<byte[]> o : outstanding) o.cancel(true);
                if (!f.lost) throw f;
                down.set(f.worker, f.getMessage());
                probedAt[f.worker] = System.nanoTime();
                if (attempt >= down.length() || !everyExpertHasALiveHolder(plan)) throw f;
                failovers++;
            } catch (RuntimeException e) {
                for (ListenableFuture<byte[]> o : outstanding) o.cancel(true);
                throw e;
            }
        }
    }

    /**
     * At most once a second, without blocking the step: an {@code Echo} to a worker out of the rotation; it is back
     * when the echo returns within the deadline (a paused worker keeps its connection open, so the channel's
     * state alone does not say it answers).
     */
    private void probe(int k) {
        long now = System.nanoTime();
        if (now - probedAt[k] < PROBE_EVERY_NS || !probing[k].compareAndSet(false, true)) return;
        probedAt[k] = now;
        ListenableFuture<byte[]> f = send(k, ExpertService.ECHO, new byte[]{1});
        f.addListener(() -> {
            try {
                f.get();
                down.set(k, null);
            } catch (Exception ignored) {
                // still out; the next step probes again after the interval
            } finally {
                probing[k].set(false);
            }
        }, com.google.common.util.concurrent.MoreExecutors.directExecutor());
    }

    private boolean everyExpertHasALiveHolder(RoutingPlan plan) {
        for (int e = 0; e < plan.experts(); e++) {
            if (plan.load(e) == 0) continue;
            boolean live = false;
            for (int h : holders[e]) live |= down.get(h) == null;
            if (!live) return false;
        }
        return true;
    }

    /** The worker each expert's rows go to: its first holder in the rotation, else its primary. */
    private int[] owners(RoutingPlan plan) {
        int[] owner = new int[plan.experts()];
        for (int e = 0; e < owner.length; e++) {
            owner[e] = holders[e][0];
            for (int h : holders[e]) if (down.get(h) == null) { owner[e] = h; break; }
        }
        return owner;
    }

    private void computeOnce(int layer, RoutingPlan plan, float[] xb, float[] slotOut, int[] owner, List<ListenableFuture<byte[]>> outstanding) {
        long t0 = System.nanoTime();
        int N = channels.size(), D = placement.devices(), per = D / N, T = plan.tokens(), E = plan.experts(), mk = plan.maxK(), H = hidden;
        // Slots per worker, ordered by expert then token.
        int[][] slots = new int[N][plan.assignments()];
        int[] count = new int[N];
        for (int e = 0; e < E; e++) {
            int k = owner[e];
            for (int i = 0; i < plan.load(e); i++) slots[k][count[k]++] = plan.slotOf(e, i);
        }
        int n = planner.chunks(T);
        List<List<ListenableFuture<byte[]>>> inFlight = new ArrayList<>();
        List<int[][]> sent = new ArrayList<>(); // per chunk, per worker: the slots sent in order
        long[] compute = new long[N], comm = new long[N];
        long[][] sentAt = new long[n][N], doneAt = new long[n][N];
        for (int i = 0; i <= n; i++) {
            if (i < n) {
                int c0 = (int) ((long) T * i / n), c1 = (int) ((long) T * (i + 1) / n);
                List<ListenableFuture<byte[]>> fs = new ArrayList<>();
                int[][] chunkSlots = new int[N][];
                for (int k = 0; k < N; k++) {
                    long a = System.nanoTime();
                    chunkSlots[k] = chunkRequest(k, slots[k], count[k], c0, c1, mk);
                    byte[] req = encode(layer, chunkSlots[k], plan, xb, k, per);
                    wireBytes += req.length;
                    ListenableFuture<byte[]> f = chunkSlots[k].length == 0 ? null : send(k, ExpertService.COMPUTE, req);
                    if (f != null) {
                        outstanding.add(f);
                        final long[] done = doneAt[i];
                        final int kk = k;
                        f.addListener(() -> done[kk] = System.nanoTime(), com.google.common.util.concurrent.MoreExecutors.directExecutor());
                    }
                    sentAt[i][k] = a;
                    fs.add(f);
                }
                inFlight.add(fs);
                sent.add(chunkSlots);
            }
            if (i >= 1) {
                int j = i - 1;
                for (int k = 0; k < N; k++) {
                    ListenableFuture<byte[]> f = inFlight.get(j).get(k);
                    if (f == null) continue;
                    byte[] resp = await(k, f);
                    wireBytes += resp.length;
                    if (doneAt[j][k] == 0) doneAt[j][k] = System.nanoTime(); // listener not run yet
                    ExpertWire.Response r = ExpertWire.parseResponse(resp);
                    int[] ss = sent.get(j)[k];
                    if (r.rows() != ss.length || r.hidden() != H) throw new JmoeException("worker " + addresses.get(k), "answered " + r.rows() + " rows, " + ss.length + " were sent");
                    compute[k] += r.computeNanos();
                    for (int q = 0; q < ss.length; q++) {
                        System.arraycopy(r.y(), q * H, slotOut, plan.rowOfSlot(ss[q]) * H, H);
                    }
                    // encode + wire both ways: the round trip less the worker's compute and the time it was still busy
                    // with the previous chunk (the EPS pipeline's overlap)
                    long busyBefore = j == 0 || doneAt[j - 1][k] == 0 ? 0 : Math.max(0, doneAt[j - 1][k] - sentAt[j][k]);
                    comm[k] += Math.max(0, doneAt[j][k] - sentAt[j][k] - r.computeNanos() - busyBefore);
                }
            }
        }
        long wall = System.nanoTime() - t0;
        long maxComm = 0, maxComp = 0;
        for (int k = 0; k < N; k++) {
            // dispatch and combine halves of the round trip; busy = the worker's span in this layer
            // the communication not hidden: what the layer took beyond this worker's compute, at most its communication
            long exposed = Math.max(0, Math.min(comm[k], wall - compute[k]));
            times.add(layer, k, comm[k] / 2, compute[k], comm[k] - comm[k] / 2, compute[k] + exposed);
            maxComm = Math.max(maxComm, comm[k]);
            maxComp = Math.max(maxComp, compute[k]);
        }
        times.addLayer(layer, wall);
        planner.observe(T, maxComm, maxComp);
    }

    /** The worker's slots whose tokens are in [c0, c1), grouped by expert (they already are) in token order. */
    private static int[] chunkRequest(int k, int[] slots, int count, int c0, int c1, int mk) {
        int m = 0;
        for (int i = 0; i < count; i++) { int t = slots[i] / mk; if (t >= c0 && t < c1) m++; }
        int[] out = new int[m];
        m = 0;
        for (int i = 0; i < count; i++) { int t = slots[i] / mk; if (t >= c0 && t < c1) out[m++] = slots[i]; }
        return out;
    }

    private byte[] encode(int layer, int[] ss, RoutingPlan plan, float[] xb, int k, int per) {
        int H = hidden, mk = plan.maxK(), T = plan.tokens();
        List<Integer> experts = new ArrayList<>(), rows = new ArrayList<>();
        float[] x = new float[ss.length * H];
        for (int q = 0; q < ss.length; q++) {
            int slot = ss[q], t = slot / mk, e = plan.expert(t, slot % mk);
            if (experts.isEmpty() || experts.getLast() != e) { experts.add(e); rows.add(0); }
            rows.set(rows.size() - 1, rows.getLast() + 1);
            System.arraycopy(xb, t * H, x, q * H, H);
            int d = placement.device(e), home = placement.homeDevice(t, T);
            // dispatch and combine of this row, as the mesh telemetry counts them
            bytes.add(home == d, placement.nodeOfDevice(home) == placement.nodeOfDevice(d), 8L * H);
        }
        return ExpertWire.request(layer, H, experts.stream().mapToInt(Integer::intValue).toArray(), rows.stream().mapToInt(Integer::intValue).toArray(), x, 0, ss.length);
    }

    @Override
    public void close() {
        for (ManagedChannel c : channels) c.shutdownNow();
    }
}
