package org.jmoe.format;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jmoe.JmoeException;
import org.jmoe.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Hugging Face checkpoint directory: {@code config.json} plus {@code model.safetensors}, or shards listed in
 * {@code model.safetensors.index.json} ({@code weight_map: tensor → file}). All shards are mapped; tensors
 * are found by name across them.
 */
public final class Checkpoint implements AutoCloseable {
    private final Path dir;
    private final JsonNode config;
    private final List<SafetensorsFile> files;
    private final Map<String, Tensor> tensors;

    private Checkpoint(Path dir, JsonNode config, List<SafetensorsFile> files, Map<String, Tensor> tensors) {
        this.dir = dir;
        this.config = config;
        this.files = files;
        this.tensors = Collections.unmodifiableMap(tensors);
    }

    public static boolean looksLikeCheckpoint(Path p) {
        return Files.isDirectory(p) && Files.isRegularFile(p.resolve("config.json"));
    }

    public static Checkpoint open(Path dir) {
        Path cfgPath = dir.resolve("config.json");
        if (!Files.isRegularFile(cfgPath)) throw new JmoeException(dir.toString(), "not a checkpoint directory: no config.json");
        JsonNode cfg = readJson(cfgPath);
        if (!cfg.isObject()) throw new JmoeException(cfgPath.toString(), "config is not a JSON object");
        List<Path> shards = new ArrayList<>();
        Path index = dir.resolve("model.safetensors.index.json");
        Map<String, String> expected = new TreeMap<>();
        if (Files.isRegularFile(index)) {
            JsonNode idx = readJson(index);
            JsonNode map = idx.get("weight_map");
            if (map == null || !map.isObject()) throw new JmoeException(index.toString(), "missing or malformed field", "field weight_map");
            for (Iterator<Map.Entry<String, JsonNode>> it = map.properties().iterator(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String file = e.getValue().asText();
                if (file.contains("/") || file.contains("\\") || file.equals("..")) {
                    throw new JmoeException(index.toString(), "shard file name must be a plain file name: '" + file + "'", "weight_map." + e.getKey());
                }
                expected.put(e.getKey(), file);
                Path s = dir.resolve(file);
                if (!shards.contains(s)) shards.add(s);
            }
        } else if (Files.isRegularFile(dir.resolve("model.safetensors"))) {
            shards.add(dir.resolve("model.safetensors"));
        } else {
            throw new JmoeException(dir.toString(), "no model.safetensors or model.safetensors.index.json");
        }
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            for (Path s : shards) {
                SafetensorsFile f = SafetensorsFile.open(s);
                files.add(f);
                for (Map.Entry<String, Tensor> e : f.tensors().entrySet()) {
                    if (tensors.put(e.getKey(), e.getValue()) != null) {
                        throw new JmoeException(s.toString(), "tensor also stored in another shard", "tensor " + e.getKey());
                    }
                }
            }
            for (Map.Entry<String, String> e : expected.entrySet()) {
                if (!tensors.containsKey(e.getKey())) {
                    throw new JmoeException(dir.resolve(e.getValue()).toString(), "tensor listed in the index is missing from its shard", "tensor " + e.getKey());
                }
            }
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        return new Checkpoint(dir, cfg, files, tensors);
    }

    static JsonNode readJson(Path p) {
        try {
            return new ObjectMapper().readTree(Files.readString(p));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new JmoeException(p.toString(), "malformed JSON: " + e.getOriginalMessage(),
                    "line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr());
        } catch (IOException e) {
            throw new JmoeException(p.toString(), "cannot read: " + e.getMessage());
        }
    }

    public Path dir() { return dir; }
    public JsonNode config() { return config; }
    public Map<String, Tensor> tensors() { return tensors; }
    public Tensor tensor(String name) { return tensors.get(name); }

    @Override
    public void close() {
        for (SafetensorsFile f : files) f.close();
    }
}
