package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.tensor.MatMul;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Parallel;

/**
 * The expert compute kernels: runs a list of experts' SwiGLU FFNs, each over its own contiguous rows, on a pool.
 *
 * <ul>
 *   <li><b>grouped</b> — one parallel pass over all the experts: each thread takes whole experts (largest loads
 *       first) and runs their GEMMs on its own. No synchronisation inside an expert; loses when there are fewer
 *       experts than threads or one expert dominates.</li>
 *   <li><b>dense</b> — experts one after another, each GEMM split over the whole pool by weight rows (and
 *       matrix-vector for a single row). A fork/join per projection; wins when few experts are active.</li>
 * </ul>
 * {@link Choice#AUTO} picks grouped when the active experts per thread reach the crossover that {@code jmoe
 * calibrate} measured ({@link #setCrossover}; 2.0 without a calibration file).
 *
 * <p>Both kernels run the same GEMMs with the same per-row accumulation order, so a row's result is bit-identical
 * whichever kernel runs it (batch invariance).
 */
public final class ExpertKernels {
    /** Which kernel runs an expert stage. */
    public enum Choice {
        AUTO, GROUPED, DENSE;

        public static Choice parse(String s) {
            return switch (s) {
                case "auto" -> AUTO;
                case "grouped" -> GROUPED;
                case "dense" -> DENSE;
                default -> throw new JmoeException("--expert-kernel", "unknown kernel '" + s + "' (auto, grouped or dense)");
            };
        }
    }

    private static volatile Choice defaultChoice = Choice.AUTO;
    /** The crossover without a calibration for the experts' weight format. */
    public static final double DEFAULT_CROSSOVER = 2.0;
    private static volatile double crossover = DEFAULT_CROSSOVER;
    /** The weight format the crossover was measured with; null: it applies to every format. */
    private static volatile DType crossoverDtype;

    /** The kernel choice every new expert stage uses (the {@code --expert-kernel} flag). */
    public static void setDefaultChoice(Choice c) { defaultChoice = c; }
    public static Choice defaultChoice() { return defaultChoice; }

    /** Active experts per thread from which AUTO runs grouped, for every weight format. */
    public static void setCrossover(double activePerThread) {
        setCrossover(activePerThread, null);
    }

    /**
     * Active experts per thread from which AUTO runs grouped, as the calibration file measured it on experts of
     * {@code measuredOn} weights (null: any). Experts of another format use {@link #DEFAULT_CROSSOVER}: the
     * crossover moves with the format (an F32 sweep puts it far above where Q4_0 decode gains from grouping).
     */
    public static void setCrossover(double activePerThread, DType measuredOn) {
        if (!(activePerThread > 0)) throw new JmoeException("calibration", "grouped_min_active_per_thread must be > 0, got " + activePerThread);
        crossover = activePerThread;
        crossoverDtype = measuredOn;
    }

    /** The crossover AUTO uses for experts with {@code dtype} weights. */
    public static double crossoverFor(DType dtype) {
        DType measured = crossoverDtype;
        return measured == null || measured == dtype ? crossover : DEFAULT_CROSSOVER;
    }
    public static double crossover() { return crossover; }

    private final int hidden, ffn;
    private Scratch[] scratch = new Scratch[0];
    private int[] order = new int[0];
    private long grouped, dense;

    private static final class Scratch {
        float[] g = new float[0], u = new float[0];
    }

    public ExpertKernels(int hidden, int ffn) {
        this.hidden = hidden;
        this.ffn = ffn;
    }

    /** Whether {@code choice} runs {@code active} experts grouped on {@code threads} threads. */
    public static boolean groupedFor(Choice choice, int active, int threads) {
        return groupedFor(choice, active, threads, crossover);
    }

    /** {@link #groupedFor(Choice, int, int)} for experts of {@code dtype} weights ({@link #crossoverFor}). */
    public static boolean groupedFor(Choice choice, int active, int threads, DType dtype) {
        return groupedFor(choice, active, threads, crossoverFor(dtype));
    }

    private static boolean groupedFor(Choice choice, int active, int threads, double perThread) {
        return switch (choice) {
            case GROUPED -> threads > 1 && active > 1;
            case DENSE -> false;
            case AUTO -> threads > 1 && active >= perThread * threads;
        };
    }

    /** Expert stages run grouped and dense so far. */
    public long groupedRuns() { return grouped; }
    public long denseRuns() { return dense; }

    /**
     * For {@code i < n}: expert {@code experts[i]}'s FFN over rows {@code start[i] .. start[i]+count[i]} of {@code x}
     * ([rows x hidden]), written to the same rows of {@code y}.
     */
    public void run(LayerWeights w, int[] experts, int[] start, int[] count, int n, float[] x, float[] y, Parallel pool, Choice choice) {
        if (n == 0) return;
        if (groupedFor(choice, n, pool.threads(), w.expGate[experts[0]].type())) {
            grouped++;
            if (order.length < n) order = new int[n];
            for (int i = 0; i < n; i++) order[i] = i;
            sortByCountDescending(order, n, count);
            Scratch[] s = scratch(pool.threads());
            final int[] ord = order;
            pool.forEach(n, (task, worker) -> {
                int i = ord[task];
                ffn(w, experts[i], start[i], count[i], x, y, s[worker], Parallel.SERIAL);
            });
        } else {
            dense++;
            Scratch s = scratch(1)[0];
            for (int i = 0; i < n; i++) ffn(w, experts[i], start[i], count[i], x, y, s, pool);
        }
    }

    private Scratch[] scratch(int n) {
        if (scratch.length < n) {
            Scratch[] a = java.util.Arrays.copyOf(scratch, n);
            for (int i = scratch.length; i < n; i++) a[i] = new Scratch();
            scratch = a;
        }
        return scratch;
    }

    private static void sortByCountDescending(int[] ids, int n, int[] count) {
        for (int i = 1; i < n; i++) {
            int v = ids[i], j = i - 1;
            while (j >= 0 && count[ids[j]] < count[v]) { ids[j + 1] = ids[j]; j--; }
            ids[j + 1] = v;
        }
    }

    /** One expert's SwiGLU FFN over {@code rows} rows starting at row {@code r0}. */
    private void ffn(LayerWeights w, int e, int r0, int rows, float[] x, float[] y, Scratch s, Parallel p) {
        if (rows == 0) return;
        int H = hidden, F = ffn;
        s.g = Forward.grow(s.g, rows * F);
        s.u = Forward.grow(s.u, rows * F);
        MatMul.mul(p, w.expGate[e], x, r0 * H, H, rows, s.g, 0, F);
        MatMul.mul(p, w.expUp[e], x, r0 * H, H, rows, s.u, 0, F);
        for (int i = 0; i < rows * F; i++) s.g[i] = Ops.silu(s.g[i]) * s.u[i];
        MatMul.mul(p, w.expDown[e], s.g, 0, F, rows, y, r0 * H, H);
    }
}
