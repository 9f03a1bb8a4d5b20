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
 * The forward pass over rows from many sequences at once, each row a token at its own position in its own
 * sequence, with the keys and values in a {@link PagedKvCache}. Every projection, the router and the experts
 * run once per layer over all rows, so a MoE layer groups the tokens of every sequence by expert; attention
 * reads each row's own sequence only. The arithmetic of a row is the same as in {@link Forward}, whatever the
 * other rows are, so a sequence's logits are bit-identical alone, batched, or evaluated by {@link Forward}.
 *
 * <p>Rows of one sequence must come in increasing, consecutive positions starting at its cached length.
 */
public final class BatchForward {
    private final Model model;
    private final ModelConfig c;
    private final PagedKvCache kv;
    private final Router[] routers;
    private final RoutingPlan plan = new RoutingPlan();
    private final RouterInput rin = new RouterInput();
    private final Rope rope;
    private Parallel pool = Parallel.global();
    private ExpertBackend experts;
    private Consumer<Forward.LayerRouting> routingListener;

    private float[] x = new float[0], xb = new float[0], q = new float[0], k = new float[0], v = new float[0];
    private float[] att = new float[0], tmp = new float[0], routerLogits = new float[0];
    private float[] slotOut = new float[0], shOut = new float[0];
    private final LayerMath.SwiGlu ffn = new LayerMath.SwiGlu();
    private float[] scores = new float[0];
    /** Per worker, the cache offsets of the rows the attention core reads (as {@code scores}). */
    private int[] rowOffsets = new int[0];
    private int[] offsets = new int[0];

    public BatchForward(Model model, PagedKvCache kv) {
        this.model = model;
        this.c = model.config();
        this.kv = kv;
        this.routers = new Router[c.layers];
        Arrays.fill(routers, NativeRouters.of(c));
        this.rope = new Rope(c);
        this.experts = new LocalExperts(c);
    }

    public Model model() { return model; }
    public PagedKvCache cache() { return kv; }
    public void setRouter(Router r) { Arrays.fill(routers, r); }
    public void setPool(Parallel p) { this.pool = p; }
    public void setExpertBackend(ExpertBackend b) { this.experts = b; }
    /** Called with each MoE layer's routing plan (all rows of the step). */
    public void setRoutingListener(Consumer<Forward.LayerRouting> l) { this.routingListener = l; }

    /** One row of a step: a token of a sequence, and whether its logits are wanted. */
    public record Row(PagedKvCache.Sequence seq, int token, int position, boolean logits) { }

    /**
     * Runs the rows; writes the logits of the rows that want them, in row order, into {@code logits[i * vocab ..]}
     * ({@code i} counts only those rows). {@code prompts[r]} is row r's prompt, used to index full prompt blocks.
     */
    public void eval(Row[] rows, int[][] prompts, float[] logits) {
        int T = rows.length;
        if (T == 0) return;
        int H = c.hidden;
        int[] tokens = new int[T];
        for (int t = 0; t < T; t++) {
            Row r = rows[t];
            tokens[t] = r.token();
            if (r.token() < 0 || r.token() >= c.vocab) throw new IllegalArgumentException("token id " + r.token() + " out of range 0.." + (c.vocab - 1));
            if (r.position() >= r.seq().capacity()) throw new IllegalArgumentException("position " + r.position() + " beyond the sequence's reservation");
        }
        offsets = offsets.length >= T ? offsets : new int[T];
        for (int t = 0; t < T; t++) offsets[t] = rows[t].seq().slot(rows[t].position());
        x = Forward.grow(x, T * H);
        xb = Forward.grow(xb, T * H);
        for (int t = 0; t < T; t++) {
            model.tokenEmbd().row(tokens[t], x, t * H);
            if (c.embeddingScale != 1f) for (int i = 0; i < H; i++) x[t * H + i] *= c.embeddingScale;
        }
        for (int l = 0; l < c.layers; l++) layer(l, rows, tokens, T);
        int n = 0;
        for (int t = 0; t < T; t++) {
            if (rows[t].logits()) Ops.rmsnorm(x, t * H, model.outputNorm(), xb, n++ * H, H, c.rmsEps);
        }
        if (n > 0) {
            MatMul.mul(pool, model.output(), xb, 0, H, n, logits, 0, c.vocab);
            if (c.logitScale != 1f) for (int i = 0; i < n * c.vocab; i++) logits[i] /= c.logitScale;
        }
        for (int t = 0; t < T; t++) {
            PagedKvCache.Sequence s = rows[t].seq();
            if (rows[t].position() + 1 > s.length()) s.advance(rows[t].position() + 1, prompts[t]);
        }
    }

    private void layer(int l, Row[] rows, int[] tokens, int T) {
        LayerWeights w = model.layer(l);
        int H = c.hidden, QD = c.qDim(), KD = c.kvDim();
        for (int t = 0; t < T; t++) Ops.rmsnorm(x, t * H, w.attnNorm, xb, t * H, H, c.rmsEps);
        q = Forward.grow(q, T * QD);
        k = Forward.grow(k, T * KD);
        v = Forward.grow(v, T * KD);
        MatMul.mul(pool, w.wq, xb, 0, H, T, q, 0, QD);
        MatMul.mul(pool, w.wk, xb, 0, H, T, k, 0, KD);
        MatMul.mul(pool, w.wv, xb, 0, H, T, v, 0, KD);
        float[] kc = kv.keys(l), vc = kv.values(l);
        for (int t = 0; t < T; t++) {
            LayerMath.prepareQkv(c, w, rope, q, k, v, t, rows[t].position());
            System.arraycopy(k, t * KD, kc, offsets[t], KD);
            System.arraycopy(v, t * KD, vc, offsets[t], KD);
        }
        att = Forward.grow(att, T * QD);
        attention(rows, T, kc, vc);
        tmp = Forward.grow(tmp, T * H);
        MatMul.mul(pool, w.wo, att, 0, QD, T, tmp, 0, H);
        for (int t = 0; t < T; t++) {
            if (w.bo != null) Ops.add(tmp, t * H, w.bo, H);
            Ops.addScaled(x, t * H, tmp, t * H, H, c.residualScale);
        }
        for (int t = 0; t < T; t++) Ops.rmsnorm(x, t * H, w.ffnNorm, xb, t * H, H, c.rmsEps);
        if (c.isMoeLayer(l)) moe(l, w, tokens, T);
        else swiglu(w.ffnGate, w.ffnUp, w.ffnDown, T, tmp);
        for (int t = 0; t < T; t++) Ops.addScaled(x, t * H, tmp, t * H, H, c.residualScale);
    }

    private void attention(Row[] rows, int T, float[] kc, float[] vc) {
        final int QD = c.qDim(), hd = c.headDim;
        final int group = c.heads / c.kvHeads;
        final float scale = c.attnScale();
        int maxLen = 0;
        for (Row r : rows) maxLen = Math.max(maxLen, r.position() + 1);
        scores = Forward.grow(scores, pool.threads() * maxLen);
        if (rowOffsets.length < pool.threads() * maxLen) rowOffsets = new int[pool.threads() * maxLen];
        final float[] sc = scores;
        final int[] offs = rowOffsets;
        final int stride = maxLen;
        pool.forEach(T * c.heads, (task, worker) -> {
            int t = task / c.heads, h = task % c.heads;
            PagedKvCache.Sequence s = rows[t].seq();
            int len = rows[t].position() + 1;
            int qo = t * QD + h * hd;
            int ko = (h / group) * hd;
            int so = worker * stride;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < len; j++) {
                int o = s.offset(j) + ko;
                offs[so + j] = o;
                float sj = Ops.dot(q, qo, kc, o, hd) * scale;
                sc[so + j] = sj;
                if (sj > max) max = sj;
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

    private void swiglu(Tensor gate, Tensor up, Tensor down, int T, float[] out) {
        ffn.run(pool, gate, up, down, xb, 0, c.hidden, T, out, 0);
    }

    private void moe(int l, LayerWeights w, int[] tokens, int T) {
        int H = c.hidden, E = c.experts;
        routerLogits = Forward.grow(routerLogits, T * E);
        LayerMath.routerInput(pool, c, w, l, xb, T, tokens, routerLogits, rin);
        Router r = routers[l];
        plan.reset(T, E, r.maxK(E));
        r.route(rin, plan);
        if (routingListener != null) routingListener.accept(new Forward.LayerRouting(l, tokens, plan));
        slotOut = Forward.grow(slotOut, plan.assignments() * H);
        experts.compute(l, w, plan, xb, slotOut, pool);
        tmp = Forward.grow(tmp, T * H);
        LayerMath.combine(pool, plan, slotOut, tmp, T, H);
        if (w.shUp != null) {
            shOut = Forward.grow(shOut, T * H);
            swiglu(w.shGate, w.shUp, w.shDown, T, shOut);
            LayerMath.addShared(w, xb, shOut, tmp, T, H);
        }
    }
}
