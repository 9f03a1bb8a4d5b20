package org.jmoe.train;

/**
 * AdamW (Loshchilov and Hutter): {@code m = β₁m + (1−β₁)g}, {@code v = β₂v + (1−β₂)g²},
 * {@code θ −= lr·(m̂/(√v̂ + ε) + λθ)} with bias-corrected m̂, v̂; weight decay λ only on matrices (not on norms),
 * as GPT-2 style training does. The moments are state a checkpoint saves.
 */
public final class AdamW {
    public final double beta1, beta2, eps, weightDecay;
    public final float[] m, v;
    /** Steps taken (t in the bias correction). */
    public long t;
    private final boolean[] decay;
    /** Per element: the weight decay λ where it applies, else 0. */
    private final float[] decayRate;

    public AdamW(ParamTensors p, double beta1, double beta2, double eps, double weightDecay) {
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.m = new float[p.size()];
        this.v = new float[p.size()];
        this.decay = new boolean[p.size()];
        for (ParamTensors.Slot s : p.slots().values()) {
            if (s.shape().length > 1) java.util.Arrays.fill(decay, s.offset(), s.offset() + s.size(), true);
        }
        this.decayRate = rates(decay, weightDecay);
    }

    /** An optimizer for {@code n} values, all decayed (the Ada-K allocators' matrices). */
    public AdamW(int n, double beta1, double beta2, double eps, double weightDecay) {
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.m = new float[n];
        this.v = new float[n];
        this.decay = new boolean[n];
        java.util.Arrays.fill(decay, true);
        this.decayRate = rates(decay, weightDecay);
    }

    private static float[] rates(boolean[] decay, double weightDecay) {
        float[] r = new float[decay.length];
        for (int i = 0; i < r.length; i++) r[i] = decay[i] ? (float) weightDecay : 0f;
        return r;
    }

    /** One update of {@code params} from {@code grads} at learning rate lr. */
    public void step(float[] params, float[] grads, double lr) {
        step(org.jmoe.tensor.Parallel.SERIAL, params, grads, lr);
    }

    /** Chunk of the element-wise update per task; the update of an element does not depend on how they are split. */
    private static final int CHUNK = 1 << 14;
    private static final jdk.incubator.vector.VectorSpecies<Float> S = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;

    /**
     * {@link #step(float[], float[], double)} with the elements split over the pool, in F32 vectors: mul, add, div and
     * sqrt are correctly rounded, so every element gets the same bits for any thread count, interpreted or compiled.
     */
    public void step(org.jmoe.tensor.Parallel pool, float[] params, float[] grads, double lr) {
        t++;
        double c1 = 1 - Math.pow(beta1, t), c2 = 1 - Math.pow(beta2, t);
        var b1 = jdk.incubator.vector.FloatVector.broadcast(S, (float) beta1);
        var nb1 = jdk.incubator.vector.FloatVector.broadcast(S, (float) (1 - beta1));
        var b2 = jdk.incubator.vector.FloatVector.broadcast(S, (float) beta2);
        var nb2 = jdk.incubator.vector.FloatVector.broadcast(S, (float) (1 - beta2));
        var ic1 = jdk.incubator.vector.FloatVector.broadcast(S, (float) (1 / c1));
        var ic2 = jdk.incubator.vector.FloatVector.broadcast(S, (float) (1 / c2));
        var ep = jdk.incubator.vector.FloatVector.broadcast(S, (float) eps);
        var rate = jdk.incubator.vector.FloatVector.broadcast(S, (float) lr);
        pool.forEach((params.length + CHUNK - 1) / CHUNK, (task, worker) -> {
            int end = Math.min(params.length, (task + 1) * CHUNK);
            for (int i = task * CHUNK; i < end; i += S.length()) {
                var k = S.indexInRange(i, end);
                var g = jdk.incubator.vector.FloatVector.fromArray(S, grads, i, k);
                var mv = jdk.incubator.vector.FloatVector.fromArray(S, m, i, k).mul(b1).add(g.mul(nb1));
                var vv = jdk.incubator.vector.FloatVector.fromArray(S, v, i, k).mul(b2).add(g.mul(g).mul(nb2));
                mv.intoArray(m, i, k);
                vv.intoArray(v, i, k);
                var p = jdk.incubator.vector.FloatVector.fromArray(S, params, i, k);
                var decayed = jdk.incubator.vector.FloatVector.fromArray(S, decayRate, i, k);
                var upd = mv.mul(ic1).div(vv.mul(ic2).lanewise(jdk.incubator.vector.VectorOperators.SQRT).add(ep)).add(decayed.mul(p));
                p.sub(upd.mul(rate)).intoArray(params, i, k);
            }
        });
    }
}
