package org.jmoe.sim;

import java.util.HashMap;
import java.util.Map;

/**
 * The time one pipeline stage takes for one microbatch, layer by layer, on its slowest device: attention
 * (projections, core, norms, tensor-parallel all-reduce), dense FFN layers, and MoE layers (router, dispatch, expert
 * GEMMs on the busiest rank, combine, shared expert, scheduled serially or as EPS chunks). Training adds the backward
 * pass: twice the forward compute and the same communication again.
 */
final class StageModel {
    /** MoE layers sample their loads from this many distinct layers (cycled); a replayed trace uses all of its layers. */
    static final int LAYER_SAMPLES = 4;
    /** Batches of at most this many tokens per expert-parallel replica average their MoE layers over draws. */
    static final int SMALL_BATCH = 64;
    /** Draws of a small batch's load per MoE layer. */
    static final int DRAWS = 8;

    /** A microbatch: sequences, query tokens per sequence, (query, key) pairs per sequence. */
    record Work(double seqs, double queries, double pairs, boolean decode, boolean train) {
        double tokens() { return seqs * queries; }
    }

    private final SimRequest req;
    private final ModelProfile m;
    private final Hardware hw;
    private final Roofline roof;
    private final Plan plan;
    private final Layout attn, experts, shared;
    private final int stageDevices;
    private final RouterModel router;
    private final Map<Integer, LoadSampler> samplers = new HashMap<>();
    private final int[] expertRank;
    /** Routing figures, summed over the layers costed: {max/mean, IS, mean k, dropped share, remote, inter-node, n}. */
    final double[] routing = new double[7];
    private int chunksUsed;

    StageModel(SimRequest req, RouterModel router) {
        this.req = req;
        this.m = req.model();
        this.hw = req.hardware();
        this.roof = new Roofline(hw, req.dtype());
        this.plan = req.plan();
        this.stageDevices = plan.stageDevices();
        this.attn = new Layout(plan.attn(), stageDevices);
        this.experts = new Layout(plan.experts(), stageDevices);
        this.shared = new Layout(plan.shared(), stageDevices);
        this.router = router;
        int ep = plan.experts().ep();
        expertRank = new int[m.experts()];
        for (int e = 0; e < m.experts(); e++) expertRank[e] = (int) ((long) e * ep / m.experts());
    }

    int chunksUsed() { return chunksUsed; }

    /**
     * How many distinct layer loads the MoE layers cycle through: the trace's recorded layers when one is replayed
     * (MoE layer l replays trace layer l mod that count: routing differs from layer to layer, and the slowest
     * device of each layer sets the pace), else {@value #LAYER_SAMPLES} independent samples.
     */
    int loadLayers() {
        return req.trace() != null ? Math.max(1, req.trace().layers()) : LAYER_SAMPLES;
    }

    private LoadSampler sampler(int stage) {
        return samplers.computeIfAbsent(stage, s -> {
            int[][] ed = new int[m.experts()][];
            for (int e = 0; e < m.experts(); e++) ed[e] = experts.rank(s, 0, expertRank[e]);
            return new LoadSampler(router, req.popularity(), req.trace(), ed, experts.replica(s, 0), hw, req.seed());
        });
    }

    /** Layers [from, to) of stage {@code s}. */
    static int[] layers(int layers, int pp, int s) {
        return new int[]{(int) ((long) s * layers / pp), (int) ((long) (s + 1) * layers / pp)};
    }

    /** One microbatch through stage s; stage times added to {@code b}; returns seconds. */
    double stage(int s, Work w, Breakdown b) {
        int[] range = layers(m.layers(), plan.pp(), s);
        double t = 0;
        for (int l = range[0]; l < range[1]; l++) {
            t += attention(s, w, b);
            if (l < m.denseLayers() || m.experts() == 0) t += denseFfn(s, w, b);
            else t += moe(s, (l - m.denseLayers()) % loadLayers(), w, b);
        }
        if (s == plan.pp() - 1) t += lmHead(w, b);
        if (s < plan.pp() - 1) {
            double bytes = Math.ceil(w.seqs() / plan.attn().dp()) * w.queries() * m.hidden() * roof.actBytes();
            double p2p = Collectives.sendRecv(hw, s * stageDevices, (s + 1) * stageDevices, bytes) * (w.train() ? 2 : 1);
            b.add("pipeline_comm", p2p);
            t += p2p;
        }
        return t;
    }

    /** Compute multiplier: forward only, or forward + backward (2x). */
    private double cx(Work w) { return w.train() ? 3 : 1; }

    /** Communication multiplier: forward, or forward + backward. */
    private double mx(Work w) { return w.train() ? 2 : 1; }

    private double attention(int s, Work w, Breakdown b) {
        int tp = plan.attn().tp();
        double seqs = Math.ceil(w.seqs() / plan.attn().dp());
        double T = seqs * w.queries();
        double proj;
        ModelProfile.Mla mla = m.mla();
        double kvShare;
        if (mla == null) {
            double kvPerRank = Math.ceil((double) m.kvHeads() / tp) * m.headDim();
            proj = roof.gemm(T, (double) m.qDim() / tp + 2 * kvPerRank, m.hidden()) + roof.gemm(T, m.hidden(), (double) m.qDim() / tp);
            kvShare = Math.ceil((double) m.kvHeads() / tp) / m.kvHeads();
        } else {
            double h = (double) m.heads() / tp;
            proj = (mla.qLoraRank() > 0 ? roof.gemm(T, mla.qLoraRank(), m.hidden()) + roof.gemm(T, h * (mla.qkNopeDim() + mla.qkRopeDim()), mla.qLoraRank())
                    : roof.gemm(T, h * (mla.qkNopeDim() + mla.qkRopeDim()), m.hidden()))
                    + roof.gemm(T, mla.kvLoraRank() + mla.qkRopeDim(), m.hidden())
                    + roof.gemm(T, h * (mla.qkNopeDim() + mla.vHeadDim()), mla.kvLoraRank())
                    + roof.gemm(T, m.hidden(), h * mla.vHeadDim());
            kvShare = 1; // the latent is shared by all heads: every tensor-parallel rank keeps and reads all of it
        }
        double kvBytes = req.kvDtype().bytes();
        double flops = seqs * w.pairs() * m.scoreFlopsPerPair(w.decode()) / tp;
        double bytes;
        if (w.decode()) {
            bytes = seqs * w.pairs() * m.kvElementsPerToken() * kvShare * kvBytes + T * 2.0 * m.attnOutDim() / tp * roof.actBytes();
        } else {
            bytes = T * (2.0 * m.qDim() / tp + 2 * m.kvElementsPerToken() * kvShare) * roof.actBytes() + T * m.kvElementsPerToken() * kvShare * kvBytes;
        }
        double core = roof.activations(flops, bytes);
        Hardware.AttentionRates measured = hw.attention();
        if (measured != null && mla == null && !w.decode()) {
            // an engine whose attention blocks the calibration timed in a prefill: its projections (with the norm,
            // RoPE and residual around them) and its core at their measured rates, in place of GEMM tiles and the
            // activation roofline
            double kvPerRank = Math.ceil((double) m.kvHeads() / tp) * m.headDim();
            double projFlops = 2 * T * m.hidden() * ((double) m.qDim() / tp + 2 * kvPerRank) + 2 * T * ((double) m.qDim() / tp) * m.hidden();
            proj = projFlops / (measured.projectionGflops() * 1e9);
            core = flops / (measured.coreGflops() * 1e9);
        }
        if (measured != null && w.decode()) {
            // decode steps of this engine measured slower beside a cut machine's devices than alone
            proj *= measured.decodeFactor();
            core *= measured.decodeFactor();
        }
        double norms = roof.elementwise(T * m.hidden() * roof.actBytes() * 10, 5);
        double comm = tp > 1 ? Collectives.allReduce(hw, attn.tpGroup(s, 0, 0), T * m.hidden() * roof.actBytes()) : 0;
        b.add("attention", (proj + core) * cx(w));
        b.add("norms", norms * cx(w));
        b.add("attention_comm", comm * mx(w));
        return (proj + core + norms) * cx(w) + comm * mx(w);
    }

    private double denseFfn(int s, Work w, Breakdown b) {
        int tp = plan.attn().tp();
        double T = Math.ceil(w.seqs() / plan.attn().dp()) * w.queries();
        double f = (double) m.denseFfn() / tp;
        double c = roof.gemm(T, 2 * f, m.hidden()) + roof.gemm(T, m.hidden(), f) + roof.memory(T * 3 * f * roof.actBytes(), 1);
        double comm = tp > 1 ? Collectives.allReduce(hw, attn.tpGroup(s, 0, 0), T * m.hidden() * roof.actBytes()) : 0;
        b.add("dense_ffn", c * cx(w));
        b.add("attention_comm", comm * mx(w));
        return c * cx(w) + comm * mx(w);
    }

    private double lmHead(Work w, Breakdown b) {
        double seqs = Math.ceil(w.seqs() / plan.attn().dp());
        double T = w.train() ? seqs * w.queries() : seqs; // inference needs logits of each sequence's last token only
        double t = roof.gemm(T, (double) m.vocab() / plan.attn().tp(), m.hidden()) * cx(w);
        b.add("lm_head", t);
        return t;
    }

    /**
     * One MoE layer. A small batch's load is a random draw (which experts its few tokens pick, and so which device
     * is busiest, changes from step to step): its time is the mean over {@value #DRAWS} draws of the layer, the
     * expected step rather than one lucky or unlucky one.
     */
    private double moe(int s, int sample, Work w, Breakdown b) {
        long Te = (long) Math.ceil(w.tokens() / plan.experts().dp());
        int draws = Te <= SMALL_BATCH && sampler(s).random(Te, sample) ? DRAWS : 1;
        if (draws == 1) return moe(s, sample, 0, w, b);
        Breakdown part = new Breakdown();
        double t = 0;
        for (int d = 0; d < draws; d++) t += moe(s, sample, d, w, part);
        b.addAll(part, 1.0 / draws);
        return t / draws;
    }

    private double moe(int s, int sample, int draw, Work w, Breakdown b) {
        Plan.Part ep = plan.experts();
        double tokens = w.tokens();
        int tpA = plan.attn().tp();
        double Ta = Math.ceil(w.seqs() / plan.attn().dp()) * w.queries();
        // router: each attention-TP rank routes its share of the replica's tokens
        double route = roof.gemm(Ta / tpA, m.experts(), m.hidden()) + roof.elementwise(Ta / tpA * m.experts() * 4, 1);
        long Te = (long) Math.ceil(tokens / ep.dp());
        LayerLoad load = sampler(s).layer(Te, sample, draw);
        long[] rankRows = load.rankRows(expertRank, ep.ep());
        long maxRank = 0;
        for (long r : rankRows) maxRank = Math.max(maxRank, r);
        int[] replica = experts.replica(s, 0);
        // shared expert
        double sh = 0, shComm = 0;
        if (m.sharedFfn() > 0) {
            Plan.Part sp = plan.shared();
            double Ts = Math.ceil(tokens / sp.dp());
            double f = (double) m.sharedFfn() / sp.tp();
            sh = roof.gemm(Ts, 2 * f, m.hidden()) + roof.gemm(Ts, m.hidden(), f) + roof.memory(Ts * 3 * f * roof.actBytes(), 1);
            if (sp.tp() > 1) {
                int[] g = shared.tpGroup(s, 0, 0);
                double bytes = Ts * m.hidden() * roof.actBytes();
                boolean sameAsAttn = sp.dp() == plan.attn().dp() && sp.tp() == plan.attn().tp();
                shComm = sameAsAttn ? Collectives.allReduce(hw, g, bytes) : Collectives.allGather(hw, g, bytes) + Collectives.reduceScatter(hw, g, bytes);
            }
        }
        int chunks = 1;
        if (req.schedule() == SimRequest.Schedule.EPS) {
            if (req.chunks() > 0) {
                chunks = (int) Math.max(1, Math.min(req.chunks(), Math.max(1, Te)));
            } else {
                // N* = sqrt(C/k) from EPS-MoE, and a few round counts around it: the one whose pipeline is shortest
                // (splitting re-reads every active expert's weights per chunk, which N* alone does not see)
                double c1 = expertTime(load, 1), d1 = exchange(load, 1, replica, maxRank, req.dtype().dispatchBytes());
                int nStar = EpsPipeline.optimalChunks(2 * d1, c1, hw.epsChunkOverheadUs() * 1e-6, Math.max(1, Te));
                double best = Double.MAX_VALUE;
                for (int n : new int[]{1, 2, 3, 4, 6, 8, 12, 16, nStar}) {
                    if (n > Math.max(1, Te)) continue;
                    double t = block(load, n, replica, maxRank, sh);
                    if (t < best - 1e-12) { best = t; chunks = n; }
                }
            }
        }
        chunksUsed = Math.max(chunksUsed, chunks);
        double dispatch = exchange(load, chunks, replica, maxRank, req.dtype().dispatchBytes());
        double combine = exchange(load, chunks, replica, maxRank, req.dtype().combineBytes());
        double comp = expertTime(load, chunks);
        double fwdScale = 1, bwdScale = w.train() ? 2 : 0;
        double block = 0, overlap = 0;
        for (double scale : new double[]{fwdScale, bwdScale}) {
            if (scale == 0) continue;
            EpsPipeline.Result r;
            if (chunks == 1) {
                r = EpsPipeline.serial(dispatch, sh * scale, comp * scale, combine);
            } else {
                r = pipeline(chunks, dispatch, comp * scale, combine, sh * scale, replica.length);
                b.add("eps_chunk_overhead", chunks * hw.epsChunkOverheadUs() * 1e-6);
            }
            block += r.seconds();
            overlap += r.overlapped();
        }
        b.add("router", route * cx(w));
        b.add("dispatch", dispatch * chunks * mx(w));
        b.add("experts", comp * chunks * cx(w));
        // the weighted sum of each token's expert outputs where the token lives (every rank of attention's
        // tensor-parallel group sums its share of the tokens): its k rows read, its output row written
        double sum = roof.elementwise(Ta / tpA * (load.meanK() + 1) * m.hidden() * roof.actBytes(), 1) * cx(w);
        b.add("combine", combine * chunks * mx(w) + sum);
        b.add("shared", sh * cx(w));
        b.add("overlap", -overlap);
        b.add("shared_comm", shComm * mx(w));
        addRouting(load, rankRows, Te);
        return route * cx(w) + block + shComm * mx(w) + sum;
    }

    /** Forward time of the MoE block (dispatch, shared, experts, combine) in {@code n} chunks. */
    private double block(LayerLoad load, int n, int[] replica, long maxRank, double shared) {
        double d = exchange(load, n, replica, maxRank, req.dtype().dispatchBytes());
        double x = exchange(load, n, replica, maxRank, req.dtype().combineBytes());
        double c = expertTime(load, n);
        if (n == 1) return EpsPipeline.serial(d, shared, c, x).seconds();
        return pipeline(n, d, c, x, shared, replica.length).seconds();
    }

    /**
     * The EPS pipeline of {@code n} equal chunks over {@code devices} devices. Worker processes on the coordinator's
     * machine (a hub) share all its cores with it: moving their rows (encoding, copies, decoding) is CPU work at both
     * ends on the cores the experts compute on, so it does not overlap the compute; only the messages' fixed latency,
     * a wait, overlaps (the next chunk is sent before the last is awaited), and is paid once per direction. Measured,
     * bench-1b over two worker JVMs on 2 cores, 4 chunks, in four rounds: a prefill's MoE layers took 1358–1443 ms,
     * the busier worker's compute plus its transfers 1388–1462.
     */
    private EpsPipeline.Result pipeline(int n, double dispatch, double compute, double combine, double shared, int devices) {
        double k = hw.epsChunkOverheadUs() * 1e-6;
        if (hw.hub() != null) {
            double waits = (n - 1) * hw.hub().seconds(0, devices);
            return new EpsPipeline.Result(n * (dispatch + compute + k + combine) + shared - 2 * waits, 2 * waits);
        }
        double[] d = new double[n], c = new double[n], x = new double[n];
        java.util.Arrays.fill(d, dispatch);
        java.util.Arrays.fill(c, compute);
        java.util.Arrays.fill(x, combine);
        return EpsPipeline.eps(d, c, x, shared, k);
    }

    /** Chunks drawn by {@link #expertTime(LayerLoad, int)} for a load with lightly loaded experts. */
    static final int CHUNK_SAMPLES = 8;
    /**
     * Rows per chunk of one expert up to which its rows in a chunk are drawn row by row; beyond, its even share (an
     * expert of 4 rows per chunk misses a given chunk with probability below e^-4, 2%).
     */
    static final int SPLIT_EXACT_PER_CHUNK = 4;

    /**
     * Expert compute of one chunk (of {@code chunks}) on the busiest rank. A chunk holds 1/chunks of the batch's
     * tokens, so each expert's rows fall into it as its tokens do, at random: an expert with fewer rows than chunks
     * is active in only some chunks (its weights read only there), and a chunk's busiest rank is its own. The mean
     * over {@value #CHUNK_SAMPLES} drawn chunks (seeded by the load: the same load gives the same time); one chunk of
     * even shares when every expert is loaded beyond {@link #SPLIT_EXACT_PER_CHUNK} rows per chunk.
     */
    private double expertTime(LayerLoad load, int chunks) {
        long[] rows = load.expertRows();
        if (chunks <= 1) return expertTime(rows);
        boolean even = true;
        for (long v : rows) even &= v == 0 || v > (long) SPLIT_EXACT_PER_CHUNK * chunks;
        java.util.SplittableRandom r = new java.util.SplittableRandom(java.util.Arrays.hashCode(rows) * 31L + chunks);
        int samples = even ? 1 : CHUNK_SAMPLES;
        double t = 0;
        for (int i = 0; i < samples; i++) t += expertTime(chunkOf(rows, chunks, r));
        return t / samples;
    }

    /**
     * One chunk of a batch cut into {@code chunks}: each expert's rows in it drawn row by row (each row in it with
     * probability 1/chunks) up to {@link #SPLIT_EXACT_PER_CHUNK} rows per chunk, else its even share (rounded).
     */
    static long[] chunkOf(long[] rows, int chunks, java.util.SplittableRandom r) {
        long[] part = new long[rows.length];
        long exact = (long) SPLIT_EXACT_PER_CHUNK * chunks;
        for (int e = 0; e < rows.length; e++) {
            if (rows[e] <= exact) {
                for (long i = 0; i < rows[e]; i++) if (r.nextInt(chunks) == 0) part[e]++;
            } else {
                part[e] = (rows[e] + chunks / 2) / chunks;
            }
        }
        return part;
    }

    /** Expert compute of a batch whose experts have {@code chunkRows} rows each, on the busiest rank. */
    private double expertTime(long[] chunkRows) {
        int ep = plan.experts().ep();
        double ffn = (double) m.expertFfn() / plan.experts().tp();
        long total = 0, busiest = 0;
        double worst = 0, sum = 0;
        // the ranks hold contiguous blocks of experts (expertRank)
        for (int r = 0, lo = 0; r < ep; r++) {
            int hi = lo;
            long rankRows = 0;
            while (hi < m.experts() && expertRank[hi] == r) rankRows += chunkRows[hi++];
            double t = roof.experts(java.util.Arrays.copyOfRange(chunkRows, lo, hi), m.hidden(), ffn);
            worst = Math.max(worst, t);
            sum += t;
            busiest = Math.max(busiest, rankRows);
            total += rankRows;
            lo = hi;
        }
        if (ep > 1 && total > 0 && hw.groupedFromActive(roof.weights()) > 0) {
            // an engine's devices (local-cpu cut into devices) share the layer's expert time, every device's experts
            // at their own efficiency, by rows: within one batch a device's time follows its share of the rows, not
            // the efficiency curve, which was measured by growing the batch (bench-1b, two one-thread devices: the
            // busier took 1.12x the one-device expert time with 1.14x the rows; the curve said 1.05x)
            return sum * busiest / total;
        }
        return worst;
    }

    /** One chunk's dispatch (or combine) on the busiest device: what it sends, or what the hottest rank receives. */
    private double exchange(LayerLoad load, int chunks, int[] replica, long maxRankRows, double elemBytes) {
        double row = m.hidden() * elemBytes;
        if (hw.hub() != null) {
            // worker processes fed by one coordinator: every row goes out (and comes back) through it, one device's
            // message after another
            return hw.hub().seconds((double) load.rows() / chunks * plan.experts().tp() * row, replica.length);
        }
        double sendRows = (double) load.rows() / replica.length / chunks * plan.experts().tp();
        double recvRows = (double) maxRankRows / chunks;
        double[] bytes = new double[Level.values().length];
        for (Level l : Level.LINKS) {
            double sh = load.levelShare()[l.ordinal()];
            bytes[l.ordinal()] = Math.max(sendRows, recvRows) * sh * row;
        }
        return Collectives.exchange(hw, bytes, Collectives.peers(hw, replica));
    }

    private void addRouting(LayerLoad load, long[] rankRows, long tokens) {
        routing[0] += org.jmoe.moe.BatchLoad.maxOverMean(rankRows);
        routing[1] += org.jmoe.moe.BatchLoad.imbalance(rankRows, tokens);
        routing[2] += load.meanK();
        long rows = load.rows();
        routing[3] += rows + load.dropped() == 0 ? 0 : (double) load.dropped() / (rows + load.dropped());
        routing[4] += 1 - load.levelShare()[Level.SELF.ordinal()];
        routing[5] += load.levelShare()[Level.CLUSTER.ordinal()];
        routing[6]++;
    }
}
