package org.jmoe.model;

import org.jmoe.moe.Router;
import org.jmoe.moe.RouterInput;
import org.jmoe.moe.RoutingPlan;
import org.jmoe.tensor.MatMul;
import org.jmoe.tensor.Parallel;
import org.jmoe.tensor.Tensor;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The forward pass of every architecture {@link ModelConfig} describes, over a batch of tokens at
 * consecutive positions, with a KV cache. One instance is one sequence's inference state.
 *
 * <p>Per block: RMSNorm → Q/K/V (+biases) → q/k RMSNorm → RoPE → causal GQA attention over the cache →
 * output projection → residual; RMSNorm → MoE (route with the layer's {@link Router} → run the experts on the
 * {@link ExpertBackend} → combine weighted, in routing order) plus the shared expert, or a dense SwiGLU FFN → residual.
 */
public final class Forward {
    private final Model model;
    private final ModelConfig c;
    private final int ctx;
    private final float[][] kCache;
    private final float[][] vCache;
    private final Router[] routers;
    private final RoutingPlan plan = new RoutingPlan();
    private final RouterInput rin = new RouterInput();
    private final Rope rope;
    private Parallel pool = Parallel.global();
    private int pos;
    private Consumer<LayerRouting> routingListener;
    private ExpertBackend experts;

    // Scratch, grown on demand.
    private float[] x = new float[0], xb = new float[0], q = new float[0], k = new float[0], v = new float[0];
    private float[] att = new float[0], tmp = new float[0], moeOut = new float[0], routerLogits = new float[0];
    private float[] slotOut = new float[0];
    private final LayerMath.SwiGlu ffn = new LayerMath.SwiGlu();
    private float[] shGate = new float[0], shUp = new float[0], shOut = new float[0];
    private float[] scores = new float[0];
    /** Per worker, the cache offsets of the rows the attention core reads (as {@code scores}). */
    private int[] rowOffsets = new int[0];

    /** Accumulated wall time of the MoE stages since {@link #resetStageTimes()}. */
    /**
     * {@code attentionNanos}: each layer's attention block (norm, Q/K/V, q/k norm and RoPE, the attention core, the
     * output projection and the residual add); {@code attentionCoreNanos}: the core alone (scores, softmax, the
     * weighted sum of values).
     */
    public record StageTimes(long routeNanos, long expertNanos, long moeNanos, long attentionNanos, long attentionCoreNanos) { }

    private long routeNanos, expertNanos, moeNanos, attentionNanos, attentionCoreNanos;
    private long[] routeByLayer = new long[0];

    /** Route time per layer since {@link #resetStageTimes()}, nanoseconds. */
    public long[] routeNanosPerLayer() { return routeByLayer.clone(); }

    public StageTimes stageTimes() { return new StageTimes(routeNanos, expertNanos, moeNanos, attentionNanos, attentionCoreNanos); }

    public void resetStageTimes() {
        routeNanos = expertNanos = moeNanos = attentionNanos = attentionCoreNanos = 0;
        java.util.Arrays.fill(routeByLayer, 0);
    }

    /** What the route stage decided in one layer, for telemetry. */
    public record LayerRouting(int layer, int[] tokenIds, RoutingPlan plan) { }

    public Forward(Model model, int ctx) {
        this.model = model;
        this.c = model.config();
        if (ctx <= 0) throw new IllegalArgumentException("context must be positive, got " + ctx);
        this.ctx = ctx;
        this.kCache = new float[c.layers][];
        this.vCache = new float[c.layers][];
        this.routers = new Router[c.layers];
        Router nat = NativeRouters.of(c);
        Arrays.fill(routers, nat);
        this.rope = new Rope(c);
        this.experts = new LocalExperts(c);
    }

    public Model model() { return model; }
    public int position() { return pos; }
    public int contextSize() { return ctx; }

    /** Forgets the cached sequence (the next token is at position 0). */
    public void reset() { pos = 0; }

    /** Moves the sequence end back to {@code position} (keeps the cache before it). */
    public void rewind(int position) {
        if (position < 0 || position > pos) throw new IllegalArgumentException("cannot rewind to " + position + " from " + pos);
        pos = position;
    }

    public void setRouter(Router r) { Arrays.fill(routers, r); }
    public void setRouter(int layer, Router r) { routers[layer] = r; }
    public Router router(int layer) { return routers[layer]; }
    public void setPool(Parallel p) { this.pool = p; }
    /** Where the routed experts run (default: {@link LocalExperts} on this JVM's pool). */
    public void setExpertBackend(ExpertBackend b) { this.experts = b; }
    public ExpertBackend expertBackend() { return experts; }
    public void setRoutingListener(Consumer<LayerRouting> l) { this.routingListener = l; }

    /**
     * Runs {@code tokens} at positions {@code position() ..}; writes logits for every position into
     * {@code logits[t * vocab ..]} when {@code allLogits}, else only the last position's into {@code logits[0..vocab)}.
     */
    public void eval(int[] tokens, float[] logits, boolean allLogits) {
        int T = tokens.length;
        if (T == 0) return;
        if (pos + T > ctx) throw new IllegalArgumentException("context full: " + pos + " + " + T + " tokens > " + ctx);
        int H = c.hidden;
        for (int t = 0; t < T; t++) {
            if (tokens[t] < 0 || tokens[t] >= c.vocab) throw new IllegalArgumentException("token id " + tokens[t] + " out of range 0.." + (c.vocab - 1));
        }
        x = grow(x, T * H);
        xb = grow(xb, T * H);
        for (int t = 0; t < T; t++) {
            model.tokenEmbd().row(tokens[t], x, t * H);
            if (c.embeddingScale != 1f) for (int i = 0; i < H; i++) x[t * H + i] *= c.embeddingScale;
        }
        for (int l = 0; l < c.layers; l++) layer(l, tokens, T);
        int V = c.vocab;
        int first = allLogits ? 0 : T - 1;
        int n = T - first;
        for (int t = first; t < T; t++) Ops.rmsnorm(x, t * H, model.outputNorm(), xb, (t - first) * H, H, c.rmsEps);
        MatMul.mul(pool, model.output(), xb, 0, H, n, logits, 0, V);
        if (c.logitScale != 1f) for (int i = 0; i < n * V; i++) logits[i] /= c.logitScale;
        pos += T;
    }

    private void layer(int l, int[] tokens, int T) {
        LayerWeights w = model.layer(l);
        int H = c.hidden, QD = c.qDim(), KD = c.kvDim();
        long a0 = System.nanoTime();
        for (int t = 0; t < T; t++) Ops.rmsnorm(x, t * H, w.attnNorm, xb, t * H, H, c.rmsEps);
        q = grow(q, T * QD);
        k = grow(k, T * KD);
        v = grow(v, T * KD);
        MatMul.mul(pool, w.wq, xb, 0, H, T, q, 0, QD);
        MatMul.mul(pool, w.wk, xb, 0, H, T, k, 0, KD);
        MatMul.mul(pool, w.wv, xb, 0, H, T, v, 0, KD);
        for (int t = 0; t < T; t++) {
            LayerMath.prepareQkv(c, w, rope, q, k, v, t, pos + t);
        }
        if (kCache[l] == null) {
            kCache[l] = new float[ctx * KD];
            vCache[l] = new float[ctx * KD];
        }
        System.arraycopy(k, 0, kCache[l], pos * KD, T * KD);
        System.arraycopy(v, 0, vCache[l], pos * KD, T * KD);
        att = grow(att, T * QD);
        long c0 = System.nanoTime();
        attention(l, T);
        attentionCoreNanos += System.nanoTime() - c0;
        tmp = grow(tmp, T * H);
        MatMul.mul(pool, w.wo, att, 0, QD, T, tmp, 0, H);
        for (int t = 0; t < T; t++) {
            if (w.bo != null) Ops.add(tmp, t * H, w.bo, H);
            Ops.addScaled(x, t * H, tmp, t * H, H, c.residualScale);
        }
        attentionNanos += System.nanoTime() - a0;
        for (int t = 0; t < T; t++) Ops.rmsnorm(x, t * H, w.ffnNorm, xb, t * H, H, c.rmsEps);
        if (c.isMoeLayer(l)) moe(l, w, tokens, T);
        else dense(w, T);
        for (int t = 0; t < T; t++) Ops.addScaled(x, t * H, tmp, t * H, H, c.residualScale);
    }

    private void attention(int l, int T) {
        final int QD = c.qDim(), KD = c.kvDim(), hd = c.headDim;
        final int group = c.heads / c.kvHeads;
        final float scale = c.attnScale();
        final float[] kc = kCache[l], vc = vCache[l];
        final int maxLen = pos + T;
        scores = grow(scores, pool.threads() * maxLen);
        if (rowOffsets.length < pool.threads() * maxLen) rowOffsets = new int[pool.threads() * maxLen];
        final float[] sc = scores;
        final int[] offs = rowOffsets;
        final int base = pos;
        pool.forEach(T * c.heads, (task, worker) -> {
            int t = task / c.heads, h = task % c.heads;
            int len = base + t + 1;
            int qo = t * QD + h * hd;
            int ko = (h / group) * hd;
            int so = worker * maxLen;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < len; j++) {
                int o = j * KD + ko;
                offs[so + j] = o;
                float s = Ops.dot(q, qo, kc, o, hd) * scale;
                sc[so + j] = s;
                if (s > max) max = s;
            }
            double sum = 0;
            for (int j = 0; j < len; j++) {
                float e = (float) Math.exp(sc[so + j] - max);
                sc[so + j] = e;
                sum += e;
            }
            float inv = (float) (1.0 / sum);
            Ops.weightedRowsAt(att, qo, vc, offs, so, sc, so, inv, len, hd);
        });
    }

    private void dense(LayerWeights w, int T) {
        int H = c.hidden;
        swiglu(w.ffnGate, w.ffnUp, w.ffnDown, xb, 0, T, tmp, 0);
        // tmp holds the FFN output for the residual add in layer().
        assert tmp.length >= T * H;
    }

    /** out[outOff + t*H ..] = down(silu(gate x_t) * up x_t) for T rows of src starting at srcOff. */
    private void swiglu(Tensor gate, Tensor up, Tensor down, float[] src, int srcOff, int T, float[] out, int outOff) {
        ffn.run(pool, gate, up, down, src, srcOff, c.hidden, T, out, outOff);
    }

    private void moe(int l, LayerWeights w, int[] tokens, int T) {
        int H = c.hidden, E = c.experts;
        long t0 = System.nanoTime();
        routerLogits = grow(routerLogits, T * E);
        LayerMath.routerInput(pool, c, w, l, xb, T, tokens, routerLogits, rin);
        Router r = routers[l];
        int maxK = r.maxK(E);
        plan.reset(T, E, maxK);
        r.route(rin, plan);
        long routed = System.nanoTime() - t0;
        routeNanos += routed;
        if (routeByLayer.length <= l) routeByLayer = java.util.Arrays.copyOf(routeByLayer, c.layers);
        routeByLayer[l] += routed;
        if (routingListener != null) routingListener.accept(new LayerRouting(l, tokens, plan));
        long t1 = System.nanoTime();
        slotOut = grow(slotOut, plan.assignments() * H);
        experts.compute(l, w, plan, xb, slotOut, pool);
        expertNanos += System.nanoTime() - t1;
        // Combine: per token, its slots in routing order, weighted.
        tmp = grow(tmp, T * H);
        LayerMath.combine(pool, plan, slotOut, tmp, T, H);
        if (w.shUp != null) {
            shOut = grow(shOut, T * H);
            swiglu(w.shGate, w.shUp, w.shDown, xb, 0, T, shOut, 0);
            LayerMath.addShared(w, xb, shOut, tmp, T, H);
        }
        moeNanos += System.nanoTime() - t0;
    }

    static float[] grow(float[] a, int n) {
        return a.length >= n ? a : new float[Math.max(n, a.length + a.length / 2)];
    }
}
