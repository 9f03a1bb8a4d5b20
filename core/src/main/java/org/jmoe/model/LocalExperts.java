package org.jmoe.model;

import org.jmoe.moe.RoutingPlan;
import org.jmoe.tensor.MatMul;
import org.jmoe.tensor.Parallel;

/**
 * Runs a layer's routed experts on this JVM: each active expert gathers its rows and runs its SwiGLU FFN as
 * one GEMM per projection over them, writing results to their slots. With at least two active experts per
 * thread the pool runs whole experts in parallel (largest loads first, each expert's GEMMs serial on its
 * thread); otherwise each GEMM is split over the pool. Either way a row's result does not depend on the
 * batch, since every GEMM keeps the same accumulation order per row.
 */
public final class LocalExperts implements ExpertBackend {
    private final int hidden;
    private final int ffn;
    private Scratch[] workers = new Scratch[0];
    private int[] ids = new int[0];

    /** Per-thread buffers. */
    private static final class Scratch {
        float[] x = new float[0], g = new float[0], u = new float[0], d = new float[0];
    }

    public LocalExperts(ModelConfig c) {
        this.hidden = c.hidden;
        this.ffn = c.expertFfn;
    }

    @Override
    public void compute(int layer, LayerWeights w, RoutingPlan plan, float[] xb, float[] slotOut, Parallel pool) {
        int E = plan.experts();
        int active = 0;
        if (ids.length < E) ids = new int[E];
        for (int e = 0; e < E; e++) if (plan.load(e) > 0) ids[active++] = e;
        if (active >= 2 * pool.threads()) {
            sortByLoadDescending(ids, active, plan);
            if (workers.length < pool.threads()) workers = newWorkers(pool.threads());
            final int[] order = ids;
            pool.forEach(active, (task, worker) -> runExpert(w, order[task], plan, xb, slotOut, workers[worker], Parallel.SERIAL));
        } else {
            if (workers.length == 0) workers = newWorkers(1);
            for (int i = 0; i < active; i++) runExpert(w, ids[i], plan, xb, slotOut, workers[0], pool);
        }
    }

    private static Scratch[] newWorkers(int n) {
        Scratch[] a = new Scratch[n];
        for (int i = 0; i < n; i++) a[i] = new Scratch();
        return a;
    }

    private static void sortByLoadDescending(int[] ids, int n, RoutingPlan plan) {
        for (int i = 1; i < n; i++) {
            int v = ids[i], j = i - 1;
            while (j >= 0 && plan.load(ids[j]) < plan.load(v)) { ids[j + 1] = ids[j]; j--; }
            ids[j + 1] = v;
        }
    }

    /** Gathers expert {@code e}'s rows, runs its SwiGLU FFN as GEMMs over them, scatters results to their slots. */
    private void runExpert(LayerWeights w, int e, RoutingPlan plan, float[] xb, float[] slotOut, Scratch s, Parallel p) {
        int H = hidden, F = ffn, n = plan.load(e), maxK = plan.maxK();
        s.x = Forward.grow(s.x, n * H);
        s.g = Forward.grow(s.g, n * F);
        s.u = Forward.grow(s.u, n * F);
        s.d = Forward.grow(s.d, n * H);
        for (int i = 0; i < n; i++) System.arraycopy(xb, (plan.slotOf(e, i) / maxK) * H, s.x, i * H, H);
        MatMul.mul(p, w.expGate[e], s.x, 0, H, n, s.g, 0, F);
        MatMul.mul(p, w.expUp[e], s.x, 0, H, n, s.u, 0, F);
        for (int i = 0; i < n * F; i++) s.g[i] = Ops.silu(s.g[i]) * s.u[i];
        MatMul.mul(p, w.expDown[e], s.g, 0, F, n, s.d, 0, H);
        for (int i = 0; i < n; i++) System.arraycopy(s.d, i * H, slotOut, plan.rowOfSlot(plan.slotOf(e, i)) * H, H);
    }
}
