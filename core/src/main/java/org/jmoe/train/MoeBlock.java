package org.jmoe.train;

import org.jmoe.model.Ops;
import org.jmoe.tensor.Parallel;

import java.util.Arrays;

/**
 * The MoE feed-forward of one layer, forward and backward: gate logits {@code z = W_gate x} (or the router's own),
 * routing, each expert's SwiGLU over the rows routed to it (gathered, one batch per expert, experts in parallel),
 * combine {@code y_t = Σ_s w_{t,s} E_{e(t,s)}(x_t)}, plus the shared expert's SwiGLU over every row. Keeps what
 * its backward pass needs; one instance per layer.
 *
 * <p>Backward: {@code ∂L/∂w_{t,s} = dy_t · E_e(x_t)}, the expert sees {@code w·dy_t}; the router maps ∂L/∂w to
 * ∂L/∂z; {@code dx = W_gate^T dz + Σ_s dE + dShared}.
 */
final class MoeBlock {
    private final TrainConfig c;
    private final TrainRouter router;
    final Routing routing = new Routing();
    float[] logits = new float[0];
    // Assignments sorted by expert: slotOf[j] = t*k + s, expert e's rows at [start[e], start[e+1]).
    private int[] slotOf = new int[0], rowOfSlot = new int[0];
    private final int[] start;
    private float[] xg = new float[0], g = new float[0], u = new float[0], h = new float[0], y = new float[0];
    private float[] sg = new float[0], su = new float[0], sh = new float[0], sy = new float[0];

    MoeBlock(TrainConfig c, TrainRouter router) {
        this.c = c;
        this.router = router;
        this.start = new int[c.experts() + 1];
    }

    TrainRouter router() { return router; }

    /** {@code out = MoE(x)} for n rows; x is kept by reference until {@link #backward}. */
    void forward(Parallel pool, float[] p, ParamTensors.Layer w, float[] x, int[] tokens, int[] home, int n, float[] out) {
        int H = c.hidden(), E = c.experts(), F = c.expertFfn();
        logits = grow(logits, n * E);
        if (!router.ownLogits(x, n, H, logits)) Linear.forward(pool, logits, 0, x, 0, p, w.router(), n, H, E);
        router.route(logits, tokens, home, n, routing);
        int k = routing.k;
        Arrays.fill(start, 0);
        for (int i = 0; i < n * k; i++) if (routing.expert[i] >= 0) start[routing.expert[i] + 1]++;
        for (int e = 0; e < E; e++) start[e + 1] += start[e];
        int A = start[E];
        slotOf = growI(slotOf, A);
        rowOfSlot = growI(rowOfSlot, n * k);
        int[] fill = Arrays.copyOf(start, E);
        for (int i = 0; i < n * k; i++) {
            int e = routing.expert[i];
            if (e < 0) continue;
            int j = fill[e]++;
            slotOf[j] = i;
            rowOfSlot[i] = j;
        }
        xg = grow(xg, A * H);
        g = grow(g, A * F);
        u = grow(u, A * F);
        h = grow(h, A * F);
        y = grow(y, A * H);
        int[] slots = slotOf;
        float[] gathered = xg;
        pool.forEach(A, (j, worker) -> System.arraycopy(x, (slots[j] / k) * H, gathered, j * H, H));
        pool.forEach(E, (e, worker) -> {
            int rows = start[e + 1] - start[e];
            if (rows > 0) SwiGlu.forward(Parallel.SERIAL, p, w.experts()[e], xg, start[e] * H, g, u, h, start[e] * F, y, start[e] * H, rows);
        });
        // Combine, token by token (each token's slots in order: the same sums for any thread count).
        int[] rowOf = rowOfSlot;
        float[] ys = y;
        pool.forEach(n, (t, worker) -> {
            Arrays.fill(out, t * H, (t + 1) * H, 0f);
            for (int i = t * k; i < (t + 1) * k; i++) {
                if (routing.expert[i] >= 0) Ops.axpy(out, t * H, ys, rowOf[i] * H, routing.weight[i], H);
            }
        });
        if (w.shared() != null) {
            int SF = c.sharedFfn();
            sg = grow(sg, n * SF);
            su = grow(su, n * SF);
            sh = grow(sh, n * SF);
            sy = grow(sy, n * H);
            SwiGlu.forward(pool, p, w.shared(), x, 0, sg, su, sh, 0, sy, 0, n);
            for (int i = 0; i < n * H; i++) out[i] += sy[i];
        }
    }

    /** Adds parameter gradients to {@code dp} and the input gradient to {@code dx}, given {@code dout} (n × hidden). */
    void backward(Parallel pool, float[] p, float[] dp, ParamTensors.Layer w, float[] x, float[] dout, float[] dx, int n) {
        int H = c.hidden(), E = c.experts(), F = c.expertFfn(), k = routing.k, A = start[E];
        if (w.shared() != null) {
            int SF = c.sharedFfn();
            float[] dh = new float[n * SF], dg = new float[n * SF];
            SwiGlu.backward(pool, p, dp, w.shared(), x, 0, sg, su, sh, 0, dout, 0, dx, 0, dh, dg, n);
        }
        float[] dweight = new float[n * k];
        float[] dy = new float[A * H];
        // Each slot owns its row j of dy, so slots can run in any order.
        pool.forEach(n * k, (i, worker) -> {
            if (routing.expert[i] < 0) return;
            int t = i / k, j = rowOfSlot[i];
            dweight[i] = Ops.dot(dout, t * H, y, j * H, H);
            Ops.axpy(dy, j * H, dout, t * H, routing.weight[i], H);
        });
        float[] dxg = new float[A * H], dh = new float[A * F], dg = new float[A * F];
        pool.forEach(E, (e, worker) -> {
            int rows = start[e + 1] - start[e];
            if (rows > 0) {
                SwiGlu.backward(Parallel.SERIAL, p, dp, w.experts()[e], xg, start[e] * H, g, u, h, start[e] * F,
                        dy, start[e] * H, dxg, start[e] * H, dh, dg, rows);
            }
        });
        for (int j = 0; j < A; j++) {
            int t = slotOf[j] / k;
            for (int i = 0; i < H; i++) dx[t * H + i] += dxg[j * H + i];
        }
        float[] dlogits = new float[n * E];
        router.backward(routing, logits, dweight, dlogits);
        if (router.learnedGate()) Linear.backward(pool, dlogits, 0, x, 0, p, w.router(), dp, w.router(), dx, 0, n, H, E);
        else router.ownLogitsBackward(dlogits, n, H, dx);
    }

    static float[] grow(float[] a, int n) { return a.length >= n ? a : new float[n]; }

    static int[] growI(int[] a, int n) { return a.length >= n ? a : new int[n]; }
}
