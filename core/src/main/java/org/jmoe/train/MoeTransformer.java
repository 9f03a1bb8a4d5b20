package org.jmoe.train;

import org.jmoe.tensor.Parallel;

import java.util.Arrays;

/**
 * Forward and backward of a whole MoE transformer on F32 parameters, llm.c style: every layer's activations are
 * kept from {@link #forward} for {@link #backward}, which runs the layers' backward passes in reverse.
 * <pre>
 *   x = E[tokens]
 *   per layer: a = RMSNorm(x)·w₁; q,k,v = W a; RoPE(q,k); x += W_o CausalAttention(q,k,v)
 *              m = RMSNorm(x)·w₂; x += MoE(m)
 *   logits = W_lm RMSNorm(x)·w_f;  loss = CE(logits, targets) + Σ_layers aux losses
 * </pre>
 */
public final class MoeTransformer {
    private final TrainConfig c;
    private final ParamTensors params;
    private final MoeBlock[] moe;
    private final RotaryEmbedding rope;
    private final CausalAttention attention;
    private Parallel pool = Parallel.global();

    /** Activations of one layer. */
    private static final class Acts {
        float[] xIn, xn1, rstd1, q, k, v, probs, att, xMid, xn2, rstd2;
    }

    private final Acts[] acts;
    private float[] xOut, xnF, rstdF, logits, dlogits;
    private int[] tokens, targets, home;
    private int n, batch;
    private double ceLoss, auxLoss;

    public MoeTransformer(TrainConfig c, ParamTensors params, TrainRouter[] routers) {
        if (routers.length != c.layers()) throw new IllegalArgumentException(routers.length + " routers for " + c.layers() + " layers");
        this.c = c;
        this.params = params;
        this.moe = new MoeBlock[c.layers()];
        for (int l = 0; l < c.layers(); l++) moe[l] = new MoeBlock(c, routers[l]);
        this.rope = new RotaryEmbedding(c.headDim(), c.ropeTheta(), c.seqLen());
        this.attention = new CausalAttention(c.heads(), c.kvHeads(), c.headDim(), c.seqLen());
        this.acts = new Acts[c.layers()];
        for (int l = 0; l < c.layers(); l++) acts[l] = new Acts();
    }

    public TrainConfig config() { return c; }

    public ParamTensors params() { return params; }

    public void setPool(Parallel p) { this.pool = p; }

    public Parallel pool() { return pool; }

    /** The routing of layer l in the last forward pass. */
    public Routing routing(int l) { return moe[l].routing; }

    public TrainRouter router(int l) { return moe[l].router(); }

    public double ceLoss() { return ceLoss; }

    public double auxLoss() { return auxLoss; }

    /** Logits of the last forward pass, n × vocab. */
    public float[] logits() { return logits; }

    /**
     * Runs {@code batch} sequences of {@code seqLen} tokens; {@code targets} (may be null: no loss) are the next
     * tokens; {@code home} (may be null) each row's node for locality-aware routers. Returns CE + aux loss.
     */
    public double forward(int[] tokens, int[] targets, int[] home, int batch) {
        int T = c.seqLen(), H = c.hidden(), QD = c.qDim(), KD = c.kvDim(), V = c.vocab();
        if (tokens.length != batch * T) throw new IllegalArgumentException(tokens.length + " tokens for " + batch + " x " + T);
        this.tokens = tokens;
        this.targets = targets;
        this.home = home != null ? home : new int[batch * T];
        this.batch = batch;
        int N = n = batch * T;
        float[] p = params.values;
        float[] x = new float[N * H];
        Embedding.forward(x, p, params.embed, tokens, N, H);
        auxLoss = 0;
        for (int l = 0; l < c.layers(); l++) {
            Acts a = acts[l];
            ParamTensors.Layer w = params.layers[l];
            a.xIn = x;
            a.xn1 = MoeBlock.grow(a.xn1 == null ? new float[0] : a.xn1, N * H);
            a.rstd1 = MoeBlock.grow(a.rstd1 == null ? new float[0] : a.rstd1, N);
            RmsNorm.forward(a.xn1, x, p, w.attnNorm(), a.rstd1, N, H, c.rmsEps());
            a.q = sized(a.q, N * QD);
            a.k = sized(a.k, N * KD);
            a.v = sized(a.v, N * KD);
            Linear.forward(pool, a.q, 0, a.xn1, 0, p, w.wq(), N, H, QD);
            Linear.forward(pool, a.k, 0, a.xn1, 0, p, w.wk(), N, H, KD);
            Linear.forward(pool, a.v, 0, a.xn1, 0, p, w.wv(), N, H, KD);
            float[] q = a.q, k = a.k;
            pool.forEach(N, (r, worker) -> {
                rope.rotate(q, r * QD, c.heads(), r % T, 1);
                rope.rotate(k, r * KD, c.kvHeads(), r % T, 1);
            });
            a.probs = sized(a.probs, attention.probsSize(batch));
            a.att = sized(a.att, N * QD);
            attention.forward(pool, a.att, a.probs, a.q, a.k, a.v, batch);
            float[] xm = new float[N * H];
            Linear.forward(pool, xm, 0, a.att, 0, p, w.wo(), N, QD, H);
            for (int i = 0; i < N * H; i++) xm[i] += x[i];
            a.xMid = xm;
            a.xn2 = sized(a.xn2, N * H);
            a.rstd2 = sized(a.rstd2, N);
            RmsNorm.forward(a.xn2, xm, p, w.ffnNorm(), a.rstd2, N, H, c.rmsEps());
            float[] mo = new float[N * H];
            moe[l].forward(pool, p, w, a.xn2, tokens, this.home, N, mo);
            auxLoss += moe[l].routing.auxLoss + moe[l].routing.locLoss;
            x = new float[N * H];
            for (int i = 0; i < N * H; i++) x[i] = xm[i] + mo[i];
        }
        xOut = x;
        xnF = sized(xnF, N * H);
        rstdF = sized(rstdF, N);
        RmsNorm.forward(xnF, x, p, params.finalNorm, rstdF, N, H, c.rmsEps());
        logits = sized(logits, N * V);
        Linear.forward(pool, logits, 0, xnF, 0, p, params.lmHead, N, H, V);
        if (targets == null) return Double.NaN;
        dlogits = sized(dlogits, N * V);
        ceLoss = CrossEntropy.lossAndGrad(pool, logits, targets, N, V, dlogits);
        return ceLoss + auxLoss;
    }

    /** Adds the gradient of the last forward pass's loss to {@code params.grads} (zero them first for one step). */
    public void backward() {
        if (targets == null) throw new IllegalStateException("forward ran without targets");
        int T = c.seqLen(), H = c.hidden(), QD = c.qDim(), KD = c.kvDim(), V = c.vocab(), N = n;
        float[] p = params.values, dp = params.grads;
        float[] dxn = new float[N * H];
        Linear.backward(pool, dlogits, 0, xnF, 0, p, params.lmHead, dp, params.lmHead, dxn, 0, N, H, V);
        float[] dx = new float[N * H];
        RmsNorm.backward(dx, dp, params.finalNorm, dxn, xOut, p, params.finalNorm, rstdF, N, H);
        for (int l = c.layers() - 1; l >= 0; l--) {
            Acts a = acts[l];
            ParamTensors.Layer w = params.layers[l];
            // x_out = x_mid + MoE(RMSNorm(x_mid)): dx flows to x_mid directly and through the MoE.
            float[] dm = new float[N * H];
            moe[l].backward(pool, p, dp, w, a.xn2, dx, dm, N);
            float[] dxm = dx.clone();
            RmsNorm.backward(dxm, dp, w.ffnNorm(), dm, a.xMid, p, w.ffnNorm(), a.rstd2, N, H);
            // x_mid = x_in + W_o att.
            float[] datt = new float[N * QD];
            Linear.backward(pool, dxm, 0, a.att, 0, p, w.wo(), dp, w.wo(), datt, 0, N, QD, H);
            float[] dq = new float[N * QD], dk = new float[N * KD], dv = new float[N * KD];
            attention.backward(pool, datt, a.probs, a.q, a.k, a.v, dq, dk, dv, batch);
            pool.forEach(N, (r, worker) -> {
                rope.rotate(dq, r * QD, c.heads(), r % T, -1);
                rope.rotate(dk, r * KD, c.kvHeads(), r % T, -1);
            });
            Arrays.fill(dxn, 0f);
            Linear.backward(pool, dq, 0, a.xn1, 0, p, w.wq(), dp, w.wq(), dxn, 0, N, H, QD);
            Linear.backward(pool, dk, 0, a.xn1, 0, p, w.wk(), dp, w.wk(), dxn, 0, N, H, KD);
            Linear.backward(pool, dv, 0, a.xn1, 0, p, w.wv(), dp, w.wv(), dxn, 0, N, H, KD);
            RmsNorm.backward(dxm, dp, w.attnNorm(), dxn, a.xIn, p, w.attnNorm(), a.rstd1, N, H);
            dx = dxm;
        }
        Embedding.backward(dp, params.embed, dx, tokens, N, H);
    }

    /** Lets adaptive routers update after an optimizer step (DeepSeek's aux-loss-free bias). */
    public void afterStep() {
        for (int l = 0; l < c.layers(); l++) moe[l].router().afterStep(l, moe[l].routing);
    }

    private static float[] sized(float[] a, int n) {
        return a == null || a.length < n ? new float[n] : a;
    }
}
