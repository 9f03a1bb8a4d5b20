package org.jmoe.train;

import org.jmoe.tokenizer.Tokenizer;
import org.jmoe.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The corpus split, the BPE tokenizer fitted on it, and the batch sampler. */
class DataTest {
    @TempDir
    Path dir;

    @Test
    void splitIsSeededAndDisjoint() throws Exception {
        Path f = TrainerTest.corpus(dir);
        Files.writeString(f, Files.readString(f) + "%\nA fortune between percent lines.\n%\n");
        TextCorpus a = TextCorpus.load(f, 0.1, 1), b = TextCorpus.load(f, 0.1, 1), c = TextCorpus.load(f, 0.1, 2);
        assertThat(a).isEqualTo(b);
        assertThat(a.validation()).isNotEqualTo(c.validation());
        assertThat(a.train().size() + a.validation().size()).isEqualTo(161);
        assertThat(a.validation()).hasSize(16);
        assertThat(a.train()).anyMatch(d -> d.equals("A fortune between percent lines.")).noneMatch(d -> d.contains("%"));
    }

    @Test
    void fittedTokenizerLoadsInTheEngineAndRoundTrips() throws Exception {
        String text = TextCorpus.load(TrainerTest.corpus(dir), 0.1, 1).trainText();
        BpeTrainer t = BpeTrainer.fit(text, 400);
        assertThat(BpeTrainer.fit(text, 400).merges()).isEqualTo(t.merges());
        Path md = Files.createDirectories(dir.resolve("tok"));
        t.write(md.resolve("tokenizer.json"));
        Tokenizer tok = Tokenizers.fromDirectory(md);
        assertThat(tok.vocabSize()).isEqualTo(t.vocabSize()).isLessThanOrEqualTo(400);
        assertThat(tok.tokenId(BpeTrainer.EOS)).isEqualTo(t.eosId());
        for (String s : new String[]{"The river ran quietly past the old mill.", "naïve café — 42 ünïcode ✓", "  spaces\tand\nlines "}) {
            assertThat(tok.decode(tok.encode(s, false, false))).isEqualTo(s);
        }
        // 143 merges compress the text they were fitted on to fewer than one token per two bytes.
        assertThat(tok.encode(text, false, false).length).isLessThan(text.length() / 2);
    }

    @Test
    void batchesDependOnlyOnSeedAndStep() {
        int[] ids = new int[500];
        for (int i = 0; i < ids.length; i++) ids[i] = i;
        TokenStream s = new TokenStream(ids);
        int[][] a = s.batch(3, 7, 4, 16), b = s.batch(3, 7, 4, 16), c = s.batch(3, 8, 4, 16);
        assertThat(a[0]).isEqualTo(b[0]);
        assertThat(a[0]).isNotEqualTo(c[0]);
        for (int i = 0; i < a[0].length; i++) assertThat(a[1][i]).isEqualTo(a[0][i] + 1); // targets are the next tokens
    }
}
