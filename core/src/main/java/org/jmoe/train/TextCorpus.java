package org.jmoe.train;

import org.jmoe.JmoeException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * A text corpus as documents: a file, or every regular file of a directory (sorted by name), split into documents
 * at blank lines (and at lines holding only {@code %}, the fortune-file separator). The documents are shuffled with
 * a seed (the same seed gives the same order on every machine) and split into training and validation sets.
 */
public record TextCorpus(List<String> train, List<String> validation) {
    /** Reads {@code path} and splits off {@code valFraction} of the documents (at least one) for validation. */
    public static TextCorpus load(Path path, double valFraction, long seed) {
        List<String> docs = new ArrayList<>();
        for (Path f : files(path)) docs.addAll(documents(read(f)));
        if (docs.size() < 2) throw new JmoeException(path.toString(), "needs at least two documents (text separated by blank lines), found " + docs.size(), "--data");
        Collections.shuffle(docs, new Random(seed));
        int nVal = Math.max(1, (int) Math.round(docs.size() * valFraction));
        return new TextCorpus(List.copyOf(docs.subList(nVal, docs.size())), List.copyOf(docs.subList(0, nVal)));
    }

    static List<Path> files(Path path) {
        if (Files.isRegularFile(path)) return List.of(path);
        if (!Files.isDirectory(path)) throw new JmoeException(path.toString(), "no such file or directory", "--data");
        try (Stream<Path> s = Files.list(path)) {
            List<Path> out = s.filter(Files::isRegularFile).sorted().toList();
            if (out.isEmpty()) throw new JmoeException(path.toString(), "directory holds no files", "--data");
            return out;
        } catch (IOException e) {
            throw new JmoeException(path.toString(), "cannot list: " + e.getMessage(), "--data");
        }
    }

    private static String read(Path f) {
        try {
            return new String(Files.readAllBytes(f), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new JmoeException(f.toString(), "cannot read: " + e.getMessage(), "--data");
        }
    }

    /** Splits at blank lines and {@code %} lines; trims each document. */
    static List<String> documents(String text) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String line : text.replace("\r\n", "\n").split("\n", -1)) {
            if (line.isBlank() || line.strip().equals("%")) {
                if (!cur.isEmpty()) out.add(cur.toString().strip());
                cur.setLength(0);
            } else {
                cur.append(line).append('\n');
            }
        }
        if (!cur.isEmpty()) out.add(cur.toString().strip());
        out.removeIf(String::isEmpty);
        return out;
    }

    /** The training documents joined by blank lines (the text the tokenizer is fitted on). */
    public String trainText() { return String.join("\n\n", train); }
}
