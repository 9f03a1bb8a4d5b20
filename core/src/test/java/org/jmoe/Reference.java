package org.jmoe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Access to ../shared/reference: models and the logits independent implementations computed for them. */
public final class Reference {
    private Reference() {}

    public static Path dir() {
        String p = System.getProperty("jmoe.reference");
        Path d = p != null ? Path.of(p) : Path.of("../shared/reference");
        if (!Files.isDirectory(d)) d = Path.of("../../shared/reference");
        if (!Files.isDirectory(d)) throw new IllegalStateException("reference folder not found (jmoe.reference=" + p + ")");
        return d.toAbsolutePath().normalize();
    }

    public static Path model(String name) { return dir().resolve("models").resolve(name); }

    /** Reference logits: tokens and one row of vocab floats per position. */
    public record Logits(int[] tokens, float[][] logits) { }

    public static Logits logits(String name) {
        try {
            JsonNode n = new ObjectMapper().readTree(dir().resolve("logits").resolve(name + "_8.json").toFile());
            int[] tokens = new int[n.get("tokens").size()];
            for (int i = 0; i < tokens.length; i++) tokens[i] = n.get("tokens").get(i).asInt();
            JsonNode rows = n.get("logits");
            float[][] l = new float[rows.size()][];
            for (int i = 0; i < l.length; i++) {
                l[i] = new float[rows.get(i).size()];
                for (int j = 0; j < l[i].length; j++) l[i][j] = (float) rows.get(i).get(j).asDouble();
            }
            return new Logits(tokens, l);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
