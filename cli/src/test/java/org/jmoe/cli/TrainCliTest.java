package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.jmoe.cli.CliTest.run;

/** {@code jmoe train} as a user runs it: a comparison of routers, the files it writes, and one-line errors. */
class TrainCliTest {
    static Path corpus(Path dir) throws Exception {
        String[] s = {"The ship left the harbour at dawn.", "A cold wind came down from the hills.", "She read the letter twice and smiled.",
                "The market was loud with voices.", "Old friends are the best mirrors.", "He planted trees he would never sit under."};
        StringBuilder b = new StringBuilder();
        for (int d = 0; d < 120; d++) b.append(s[d % s.length]).append(' ').append(s[(d * 7 + 3) % s.length]).append("\n\n");
        Path f = dir.resolve("text.txt");
        Files.writeString(f, b.toString());
        return f;
    }

    @Test
    void comparesRoutersAndWritesTheirModels(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("cmp");
        CliTest.Run r = run("train", "--data", corpus(dir).toString(), "--preset", "micro", "--routers", "topk,moge", "--steps", "3",
                "--out", out.toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertThat(j.get("runs")).hasSize(2);
        assertThat(j.get("runs").get(1).get("max_imbalance_score").asDouble()).isZero();
        assertThat(r.err()).contains("step 3/3").contains("ETA");
        for (String f : new String[]{"comparison.md", "comparison.json", "comparison.png", "topk/log.jsonl", "topk/curves.png", "moge/model/config.json", "moge/model.gguf"}) {
            assertThat(out.resolve(f)).as(f).exists();
        }
        assertThat(ImageIO.read(out.resolve("comparison.png").toFile()).getWidth()).isGreaterThan(100);
        assertThat(Files.readString(out.resolve("comparison.md"))).contains("| `moge` |");
        // The trained model generates with the engine.
        CliTest.Run g = run("generate", "-m", out.resolve("moge/model").toString(), "-p", "The ship", "-n", "4", "--temp", "0");
        assertThat(g.code()).as(g.err()).isZero();
    }

    @Test
    void badArgumentsFailWithOneLine(@TempDir Path dir) throws Exception {
        CliTest.Run r = run("train", "--data", corpus(dir).toString(), "--preset", "huge", "--out", dir.resolve("x").toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip()).startsWith("jmoe: --preset").doesNotContain("\n");
        CliTest.Run s = run("train", "--data", corpus(dir).toString(), "--preset", "micro", "--router", "adak:threshold=0.5", "--out", dir.resolve("y").toString());
        assertThat(s.code()).isEqualTo(1);
        assertThat(s.err()).contains("cannot train");
        CliTest.Run t = run("train", "--data", dir.resolve("missing.txt").toString(), "--preset", "micro", "--out", dir.resolve("z").toString());
        assertThat(t.code()).isEqualTo(1);
        assertThat(t.err()).contains("no such file");
    }
}
