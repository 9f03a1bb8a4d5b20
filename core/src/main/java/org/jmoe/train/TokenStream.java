package org.jmoe.train;

import org.jmoe.tokenizer.Tokenizer;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Documents as one token stream (each document's tokens followed by EOS), and the batches a training step reads:
 * {@code batch} windows of {@code seqLen + 1} tokens at offsets drawn from a generator seeded by (seed, step), so
 * step s reads the same batch in any run, resumed or not (the sampler's whole state is the seed and the step).
 */
public final class TokenStream {
    private final int[] tokens;

    public TokenStream(int[] tokens) {
        this.tokens = tokens;
    }

    public static TokenStream encode(Tokenizer tok, List<String> docs, int eos) {
        int[][] parts = new int[docs.size()][];
        int n = 0;
        for (int i = 0; i < parts.length; i++) {
            parts[i] = tok.encode(docs.get(i), false, false);
            n += parts[i].length + 1;
        }
        int[] all = new int[n];
        int o = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, all, o, p.length);
            o += p.length;
            all[o++] = eos;
        }
        return new TokenStream(all);
    }

    public int size() { return tokens.length; }

    public int[] tokens() { return tokens; }

    /** Inputs and next-token targets of step {@code step}'s batch, each {@code batch × seqLen}. */
    public int[][] batch(long seed, long step, int batch, int seqLen) {
        if (tokens.length < seqLen + 1) throw new IllegalArgumentException("stream of " + tokens.length + " tokens is shorter than a window of " + (seqLen + 1));
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + step);
        int[] in = new int[batch * seqLen], tg = new int[batch * seqLen];
        for (int b = 0; b < batch; b++) {
            int off = r.nextInt(tokens.length - seqLen);
            System.arraycopy(tokens, off, in, b * seqLen, seqLen);
            System.arraycopy(tokens, off + 1, tg, b * seqLen, seqLen);
        }
        return new int[][]{in, tg};
    }

    /** Consecutive non-overlapping windows from the start: window w of {@link #windows} as (inputs, targets). */
    public int windows(int seqLen) { return (tokens.length - 1) / seqLen; }

    public void window(int w, int seqLen, int[] in, int[] tg, int at) {
        System.arraycopy(tokens, w * seqLen, in, at, seqLen);
        System.arraycopy(tokens, w * seqLen + 1, tg, at, seqLen);
    }
}
