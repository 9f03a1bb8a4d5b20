package org.jmoe.model;

import org.jmoe.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An independent, deliberately plain double-precision forward pass, written from the architectures'
 * definitions and sharing no code with {@link Forward}: the expectation for what llama.cpp cannot check
 * (Granite multipliers, DeepSeek-style routing, leading dense layers). Weights are read through
 * {@link Tensor#toFloats()} and widened to double; everything after that is double.
 */
final class DoubleForward {
    private final Model m;
    private final ModelConfig c;

    DoubleForward(Model m) {
        this.m = m;
        this.c = m.config();
    }

    static double[][] mat(Tensor t) {
        float[] f = t.toFloats();
        int rows = t.rows(), cols = t.cols();
        double[][] w = new double[rows][cols];
        for (int r = 0; r < rows; r++) for (int k = 0; k < cols; k++) w[r][k] = f[r * cols + k];
        return w;
    }

    static double[] mv(double[][] w, double[] x) {
        double[] y = new double[w.length];
        for (int r = 0; r < w.length; r++) {
            double s = 0;
            for (int k = 0; k < x.length; k++) s += w[r][k] * x[k];
            y[r] = s;
        }
        return y;
    }

    static double[] rms(double[] x, float[] w, double eps) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double sc = 1 / Math.sqrt(ss / x.length + eps);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] * sc * w[i];
        return y;
    }

    static double silu(double x) { return x / (1 + Math.exp(-x)); }

    double[] ffn(Tensor g, Tensor u, Tensor d, double[] x) {
        double[] a = mv(mat(g), x), b = mv(mat(u), x);
        for (int i = 0; i < a.length; i++) a[i] = silu(a[i]) * b[i];
        return mv(mat(d), a);
    }

    void rope(double[] v, int off, int pos) {
        int d = c.ropeDim > 0 ? c.ropeDim : c.headDim;
        for (int i = 0; i < d / 2; i++) {
            double th = pos / Math.pow(c.ropeTheta, 2.0 * i / d);
            int a = c.ropeType == ModelConfig.RopeType.NORM ? off + 2 * i : off + i;
            int b = c.ropeType == ModelConfig.RopeType.NORM ? off + 2 * i + 1 : off + i + d / 2;
            double x0 = v[a], x1 = v[b];
            v[a] = x0 * Math.cos(th) - x1 * Math.sin(th);
            v[b] = x0 * Math.sin(th) + x1 * Math.cos(th);
        }
    }

    /** Chosen (expert, weight) pairs for router logits z, per the config's routing definition. */
    List<double[]> route(double[] z, LayerWeights w) {
        int E = c.experts;
        double[] p = new double[E];
        if (c.gating == ModelConfig.Gating.SIGMOID) {
            for (int e = 0; e < E; e++) p[e] = 1 / (1 + Math.exp(-z[e]));
        } else {
            double mx = Arrays.stream(z).max().orElseThrow(), s = 0;
            for (int e = 0; e < E; e++) s += Math.exp(z[e] - mx);
            for (int e = 0; e < E; e++) p[e] = Math.exp(z[e] - mx) / s;
        }
        List<double[]> out = new ArrayList<>();
        if (c.routing == ModelConfig.Routing.MOGE) {
            int gs = E / c.groups, per = c.expertsUsed / c.groups;
            for (int g = 0; g < c.groups; g++) {
                Integer[] ids = new Integer[gs];
                for (int i = 0; i < gs; i++) ids[i] = g * gs + i;
                Arrays.sort(ids, (a, b) -> Double.compare(p[b], p[a]));
                for (int i = 0; i < per; i++) out.add(new double[]{ids[i], p[ids[i]] * (w.routerScale != null ? w.routerScale[ids[i]] : 1)});
            }
            return out;
        }
        double[] sel = new double[E];
        for (int e = 0; e < E; e++) sel[e] = p[e] + (w.selectionBias != null ? w.selectionBias[e] : 0);
        boolean[] ok = new boolean[E];
        Arrays.fill(ok, true);
        if (c.routing == ModelConfig.Routing.GROUP_LIMITED && c.groupsUsed < c.groups) {
            int gs = E / c.groups;
            double[] gscore = new double[c.groups];
            for (int g = 0; g < c.groups; g++) {
                double[] v = Arrays.copyOfRange(sel, g * gs, (g + 1) * gs);
                Arrays.sort(v);
                gscore[g] = v[gs - 1] + (gs > 1 ? v[gs - 2] : 0);
            }
            Integer[] gi = new Integer[c.groups];
            for (int g = 0; g < c.groups; g++) gi[g] = g;
            Arrays.sort(gi, (a, b) -> Double.compare(gscore[b], gscore[a]));
            boolean[] keep = new boolean[c.groups];
            for (int i = 0; i < c.groupsUsed; i++) keep[gi[i]] = true;
            for (int e = 0; e < E; e++) ok[e] = keep[e / gs];
        }
        Integer[] ids = new Integer[E];
        for (int e = 0; e < E; e++) ids[e] = e;
        Arrays.sort(ids, (a, b) -> ok[a] != ok[b] ? (ok[a] ? -1 : 1) : Double.compare(sel[b], sel[a]));
        double sum = 0;
        for (int i = 0; i < c.expertsUsed; i++) sum += p[ids[i]];
        for (int i = 0; i < c.expertsUsed; i++) {
            double wt = p[ids[i]];
            if (c.normTopK) wt /= sum;
            out.add(new double[]{ids[i], wt * c.weightsScale});
        }
        return out;
    }

    /** Logits for every position of {@code tokens}, [T][vocab]. */
    double[][] logits(int[] tokens) {
        int T = tokens.length, H = c.hidden, hd = c.headDim;
        float[] emb = m.tokenEmbd().toFloats();
        double[][] x = new double[T][H];
        for (int t = 0; t < T; t++) for (int i = 0; i < H; i++) x[t][i] = emb[tokens[t] * H + i] * (double) c.embeddingScale;
        for (int l = 0; l < c.layers; l++) {
            LayerWeights w = m.layer(l);
            double[][] q = new double[T][], k = new double[T][], v = new double[T][];
            for (int t = 0; t < T; t++) {
                double[] h = rms(x[t], w.attnNorm, c.rmsEps);
                q[t] = mv(mat(w.wq), h);
                k[t] = mv(mat(w.wk), h);
                v[t] = mv(mat(w.wv), h);
                for (int i = 0; w.bq != null && i < q[t].length; i++) q[t][i] += w.bq[i];
                for (int i = 0; w.bk != null && i < k[t].length; i++) k[t][i] += w.bk[i];
                for (int i = 0; w.bv != null && i < v[t].length; i++) v[t][i] += w.bv[i];
                for (int h0 = 0; h0 < c.heads; h0++) rope(q[t], h0 * hd, t);
                for (int h0 = 0; h0 < c.kvHeads; h0++) rope(k[t], h0 * hd, t);
            }
            double scale = c.attentionScale != 0 ? c.attentionScale : 1 / Math.sqrt(hd);
            for (int t = 0; t < T; t++) {
                double[] att = new double[c.heads * hd];
                for (int h0 = 0; h0 < c.heads; h0++) {
                    int kv = h0 / (c.heads / c.kvHeads);
                    double[] s = new double[t + 1];
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= t; j++) {
                        double d = 0;
                        for (int i = 0; i < hd; i++) d += q[t][h0 * hd + i] * k[j][kv * hd + i];
                        s[j] = d * scale;
                        mx = Math.max(mx, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) { s[j] = Math.exp(s[j] - mx); sum += s[j]; }
                    for (int j = 0; j <= t; j++) for (int i = 0; i < hd; i++) att[h0 * hd + i] += s[j] / sum * v[j][kv * hd + i];
                }
                double[] o = mv(mat(w.wo), att);
                for (int i = 0; i < H; i++) x[t][i] += c.residualScale * (o[i] + (w.bo != null ? w.bo[i] : 0));
            }
            for (int t = 0; t < T; t++) {
                double[] h = rms(x[t], w.ffnNorm, c.rmsEps);
                double[] y = new double[H];
                if (!c.isMoeLayer(l)) {
                    y = ffn(w.ffnGate, w.ffnUp, w.ffnDown, h);
                } else {
                    for (double[] ew : route(mv(mat(w.router), h), w)) {
                        int e = (int) ew[0];
                        double[] d = ffn(w.expGate[e], w.expUp[e], w.expDown[e], h);
                        for (int i = 0; i < H; i++) y[i] += ew[1] * d[i];
                    }
                    if (w.shUp != null) {
                        double[] d = ffn(w.shGate, w.shUp, w.shDown, h);
                        double g = 1;
                        if (w.shGateInp != null) {
                            double z = 0;
                            for (int i = 0; i < H; i++) z += w.shGateInp[i] * h[i];
                            g = 1 / (1 + Math.exp(-z));
                        }
                        for (int i = 0; i < H; i++) y[i] += g * d[i];
                    }
                }
                for (int i = 0; i < H; i++) x[t][i] += c.residualScale * y[i];
            }
        }
        double[][] outW = mat(m.output());
        double[][] logits = new double[T][];
        for (int t = 0; t < T; t++) {
            logits[t] = mv(outW, rms(x[t], m.outputNorm(), c.rmsEps));
            for (int i = 0; i < logits[t].length; i++) logits[t][i] /= c.logitScale;
        }
        return logits;
    }
}
