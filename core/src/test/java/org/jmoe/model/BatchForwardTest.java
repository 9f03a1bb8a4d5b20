package org.jmoe.model;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The multi-sequence forward over a paged KV cache gives each sequence exactly the logits of {@link Forward}. */
class BatchForwardTest {
    private static final int[][] PROMPTS = {
            {1, 5, 9, 2, 7, 3, 8, 4, 6, 10, 11},
            {3, 3, 1},
            {20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36},
    };

    /** Every position's logits of {@code tokens} from the single-sequence pass. */
    private static float[] reference(Model m, int[] tokens) {
        Forward f = new Forward(m, 64);
        float[] out = new float[tokens.length * m.config().vocab];
        f.eval(tokens, out, true);
        return out;
    }

    @Test
    void interleavedChunksOfManySequencesMatchTheSingleSequencePass() {
        Model m = TestModels.build(TestModels.base("qwen3moe"), 11);
        int V = m.config().vocab;
        PagedKvCache kv = new PagedKvCache(m.config(), 32, 4);
        BatchForward bf = new BatchForward(m, kv);
        PagedKvCache.Sequence[] seqs = new PagedKvCache.Sequence[PROMPTS.length];
        float[][] got = new float[PROMPTS.length][];
        for (int s = 0; s < seqs.length; s++) {
            seqs[s] = kv.open(PROMPTS[s], PROMPTS[s].length + 4);
            got[s] = new float[PROMPTS[s].length * V];
        }
        int[] done = new int[seqs.length];
        // Steps of up to 3 tokens per sequence, all sequences in one pass, every row with logits.
        while (Arrays.stream(done).anyMatch(d -> d >= 0)) {
            List<BatchForward.Row> rows = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            List<int[]> where = new ArrayList<>();
            for (int s = 0; s < seqs.length; s++) {
                if (done[s] < 0) continue;
                int n = Math.min(3, PROMPTS[s].length - done[s]);
                for (int i = 0; i < n; i++) {
                    rows.add(new BatchForward.Row(seqs[s], PROMPTS[s][done[s] + i], done[s] + i, true));
                    prompts.add(PROMPTS[s]);
                    where.add(new int[]{s, done[s] + i});
                }
                done[s] += n;
                if (done[s] == PROMPTS[s].length) done[s] = -1;
            }
            float[] logits = new float[rows.size() * V];
            bf.eval(rows.toArray(BatchForward.Row[]::new), prompts.toArray(int[][]::new), logits);
            for (int r = 0; r < where.size(); r++) {
                System.arraycopy(logits, r * V, got[where.get(r)[0]], where.get(r)[1] * V, V);
            }
        }
        for (int s = 0; s < seqs.length; s++) assertThat(got[s]).as("sequence %d", s).containsExactly(reference(m, PROMPTS[s]));
        for (PagedKvCache.Sequence s : seqs) s.release();
        assertThat(kv.usedBlocks()).isZero();
        assertThat(kv.availableBlocks()).isEqualTo(kv.totalBlocks());
    }

    @Test
    void aSharedPromptPrefixIsReusedAndGivesTheSameLogits() {
        Model m = TestModels.build(TestModels.base("qwen3moe"), 12);
        int V = m.config().vocab;
        PagedKvCache kv = new PagedKvCache(m.config(), 16, 4);
        BatchForward bf = new BatchForward(m, kv);
        int[] a = PROMPTS[0];
        PagedKvCache.Sequence sa = kv.open(a, a.length + 2);
        run(bf, sa, a, 0, V);
        int[] b = Arrays.copyOf(a, a.length + 3);
        b[a.length] = 40;
        b[a.length + 1] = 41;
        b[a.length + 2] = 42;
        int blocksBefore = kv.usedBlocks();
        PagedKvCache.Sequence sb = kv.open(b, b.length + 2);
        assertThat(sb.length()).as("tokens taken from shared blocks").isEqualTo(8);
        assertThat(kv.usedBlocks()).isEqualTo(blocksBefore);
        float[] last = run(bf, sb, b, sb.length(), V);
        float[] ref = reference(m, b);
        assertThat(last).containsExactly(Arrays.copyOfRange(ref, (b.length - 1) * V, b.length * V));
        sa.release();
        sb.release();
        assertThat(kv.usedBlocks()).isZero();
        // The prefix stays cached (idle) after its users leave, and is found again.
        PagedKvCache.Sequence sc = kv.open(b, b.length + 1);
        assertThat(sc.length()).isEqualTo(12);
        sc.release();
    }

    @Test
    void aReservationThatDoesNotFitWaits() {
        Model m = TestModels.build(TestModels.base("qwen3moe"), 13);
        PagedKvCache kv = new PagedKvCache(m.config(), 4, 4);
        PagedKvCache.Sequence s = kv.open(new int[]{1, 2, 3}, 12);
        assertThat(kv.open(new int[]{4, 5}, 8)).isNull();
        assertThat(kv.open(new int[]{4, 5}, 4)).isNotNull();
        s.release();
    }

    /** Runs {@code tokens[from..]} of one sequence in one pass; returns the last position's logits. */
    private static float[] run(BatchForward bf, PagedKvCache.Sequence s, int[] tokens, int from, int V) {
        int n = tokens.length - from;
        BatchForward.Row[] rows = new BatchForward.Row[n];
        int[][] prompts = new int[n][];
        for (int i = 0; i < n; i++) {
            rows[i] = new BatchForward.Row(s, tokens[from + i], from + i, i == n - 1);
            prompts[i] = tokens;
        }
        float[] logits = new float[V];
        bf.eval(rows, prompts, logits);
        return logits;
    }
}
