package org.jmoe.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jmoe.JmoeException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code log.jsonl}: one JSON object a logged step, with {@code step, loss, val_ppl} (null between evaluations),
 * {@code imbalance_score, cross_node_fraction, tokens_per_s}, and also {@code lr, aux_loss, drop_fraction,
 * grad_norm}. A resumed run first drops the lines after the step it resumes from.
 */
public final class TrainLog {
    /** One logged step. */
    public record Entry(long step, double loss, Double valPpl, double imbalance, double crossNode, double tokensPerS,
                        double lr, double aux, double drops, double gradNorm) {
        String json(ObjectMapper om) {
            ObjectNode o = om.createObjectNode();
            o.put("step", step);
            o.put("loss", round(loss));
            if (valPpl == null) o.putNull("val_ppl"); else o.put("val_ppl", round(valPpl));
            o.put("imbalance_score", round(imbalance));
            o.put("cross_node_fraction", round(crossNode));
            o.put("tokens_per_s", Math.round(tokensPerS * 10) / 10.0);
            o.put("lr", lr);
            o.put("aux_loss", round(aux));
            o.put("drop_fraction", round(drops));
            o.put("grad_norm", round(gradNorm));
            return o.toString();
        }

        private static double round(double v) {
            return Double.isFinite(v) ? Double.parseDouble(String.format(java.util.Locale.ROOT, "%.6g", v)) : v;
        }
    }

    private final Path file;
    private final ObjectMapper om = new ObjectMapper();

    /** Opens the log; keeps the lines of steps up to {@code keepThrough} (−1: starts empty). */
    public TrainLog(Path file, long keepThrough) {
        this.file = file;
        try {
            List<String> keep = new ArrayList<>();
            if (keepThrough >= 0 && Files.exists(file)) {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    if (line.isBlank()) continue;
                    if (om.readTree(line).path("step").asLong() <= keepThrough) keep.add(line);
                }
            }
            Files.write(file, keep, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new JmoeException(file.toString(), "cannot write: " + e.getMessage());
        }
    }

    public void append(Entry e) {
        try {
            Files.writeString(file, e.json(om) + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException x) {
            throw new JmoeException(file.toString(), "cannot write: " + x.getMessage());
        }
    }

    /** Reads a log back. */
    public static List<Entry> read(Path file) {
        ObjectMapper om = new ObjectMapper();
        List<Entry> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank()) continue;
                var j = om.readTree(line);
                out.add(new Entry(j.path("step").asLong(), j.path("loss").asDouble(), j.path("val_ppl").isNull() ? null : j.path("val_ppl").asDouble(),
                        j.path("imbalance_score").asDouble(), j.path("cross_node_fraction").asDouble(), j.path("tokens_per_s").asDouble(),
                        j.path("lr").asDouble(), j.path("aux_loss").asDouble(), j.path("drop_fraction").asDouble(), j.path("grad_norm").asDouble()));
            }
        } catch (IOException e) {
            throw new JmoeException(file.toString(), "cannot read: " + e.getMessage());
        }
        return out;
    }
}
