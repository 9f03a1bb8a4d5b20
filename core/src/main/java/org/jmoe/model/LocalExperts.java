package org.jmoe.model;

import org.jmoe.moe.RoutingPlan;
import org.jmoe.tensor.Parallel;

/**
 * Runs a layer's routed experts on this JVM: the active experts' rows are gathered into one buffer ordered by
 * expert (dispatch), {@link ExpertKernels} runs each expert's SwiGLU FFN as one GEMM per projection over its rows,
 * grouped or dense by load (compute), and the results go to their slots (combine). Either kernel gives a row the
 * same result whatever else is in the batch, since every GEMM keeps the same accumulation order per row.
 */
public final class LocalExperts implements ExpertBackend {
    private final int hidden;
    private final ExpertKernels kernels;
    private ExpertKernels.Choice choice;
    private int[] ids = new int[0], start = new int[0], count = new int[0];
    private float[] x = new float[0], y = new float[0];

    public LocalExperts(ModelConfig c) {
        this.hidden = c.hidden;
        this.kernels = new ExpertKernels(c.hidden, c.expertFfn);
    }

    /** Fixes the kernel (null: {@link ExpertKernels#defaultChoice()} at each call). */
    public LocalExperts kernel(ExpertKernels.Choice c) {
        this.choice = c;
        return this;
    }

    /** The kernels' run counts (grouped vs dense). */
    public ExpertKernels kernels() { return kernels; }

    @Override
    public void compute(int layer, LayerWeights w, RoutingPlan plan, float[] xb, float[] slotOut, Parallel pool) {
        int E = plan.experts(), H = hidden, maxK = plan.maxK();
        if (ids.length < E) { ids = new int[E]; start = new int[E]; count = new int[E]; }
        int active = 0, rows = 0;
        for (int e = 0; e < E; e++) {
            int n = plan.load(e);
            if (n == 0) continue;
            ids[active] = e;
            start[active] = rows;
            count[active++] = n;
            rows += n;
        }
        x = Forward.grow(x, rows * H);
        y = Forward.grow(y, rows * H);
        final int n = active;
        pool.forEach(n, (i, worker) -> {
            int e = ids[i];
            for (int j = 0; j < count[i]; j++) System.arraycopy(xb, (plan.slotOf(e, j) / maxK) * H, x, (start[i] + j) * H, H);
        });
        kernels.run(w, ids, start, count, n, x, y, pool, choice != null ? choice : ExpertKernels.defaultChoice());
        pool.forEach(n, (i, worker) -> {
            int e = ids[i];
            for (int j = 0; j < count[i]; j++) System.arraycopy(y, (start[i] + j) * H, slotOut, plan.rowOfSlot(plan.slotOf(e, j)) * H, H);
        });
    }
}
