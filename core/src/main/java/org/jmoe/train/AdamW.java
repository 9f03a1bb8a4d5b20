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
    }

    /** One update of {@code params} from {@code grads} at learning rate lr. */
    public void step(float[] params, float[] grads, double lr) {
        t++;
        double c1 = 1 - Math.pow(beta1, t), c2 = 1 - Math.pow(beta2, t);
        for (int i = 0; i < params.length; i++) {
            float g = grads[i];
            m[i] = (float) (beta1 * m[i] + (1 - beta1) * g);
            v[i] = (float) (beta2 * v[i] + (1 - beta2) * g * g);
            double mh = m[i] / c1, vh = v[i] / c2;
            double upd = mh / (Math.sqrt(vh) + eps) + (decay[i] ? weightDecay * params[i] : 0);
            params[i] = (float) (params[i] - lr * upd);
        }
    }
}
