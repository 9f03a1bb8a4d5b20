package org.jmoe.fuzz;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.HfModelLoader;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.tokenizer.Tokenizer;
import org.jmoe.tokenizer.Tokenizers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The parsers jmoe exposes to files from outside, as fuzz targets. The contract each target checks: any input
 * either loads (and then runs: a forward pass, an encode/decode round trip) or fails with a {@link JmoeException}
 * that names what and where. Anything else — an unchecked exception from deep inside, an OutOfMemoryError, a
 * stack overflow — is a finding and is rethrown as an {@link AssertionError}.
 */
final class ParserTargets {
    private final Path dir;

    ParserTargets(Path dir) {
        this.dir = dir;
    }

    /** A GGUF file: header, metadata, tensor descriptors, GGUF tokenizer metadata, then a one-token forward pass. */
    void gguf(byte[] data) {
        Path f = write("model.gguf", data);
        guard("gguf", () -> {
            try (Model m = ModelLoader.load(f)) {
                exercise(m);
            }
        });
    }

    /** A safetensors checkpoint directory: config.json + model.safetensors. */
    void checkpoint(String configJson, byte[] safetensors) {
        Path d = dir.resolve("ckpt");
        try {
            Files.createDirectories(d);
            Files.deleteIfExists(d.resolve("tokenizer.json"));
            Files.writeString(d.resolve("config.json"), configJson);
            Files.write(d.resolve("model.safetensors"), safetensors);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        guard("checkpoint", () -> {
            try (Model m = HfModelLoader.load(d)) {
                exercise(m);
            }
        });
    }

    /** A Hugging Face tokenizer.json, then an encode/decode of mixed text. */
    void tokenizerJson(byte[] data) {
        Path f = write("tokenizer.json", data);
        guard("tokenizer.json", () -> roundTrip(Tokenizers.fromTokenizerJson(f)));
    }

    /** A SentencePiece tokenizer.model (protobuf), then an encode/decode of mixed text. */
    void sentencePiece(byte[] data) {
        Path f = write("tokenizer.model", data);
        guard("tokenizer.model", () -> roundTrip(Tokenizers.fromSentencePieceModel(f)));
    }

    private static void exercise(Model m) {
        var c = m.config();
        Forward fw = new Forward(m, 2);
        float[] logits = new float[c.vocab];
        fw.eval(new int[]{Math.min(1, c.vocab - 1)}, logits, false);
        if (m.tokenizer() != null) roundTrip(m.tokenizer());
    }

    private static void roundTrip(Tokenizer t) {
        int[] ids = t.encode("Hello, world! héllo 世界 \n\t 123 <s>", false);
        t.decode(ids);
        var d = t.decoder();
        for (int id : ids) d.next(id);
    }

    private Path write(String name, byte[] data) {
        Path f = dir.resolve(name);
        try {
            Files.write(f, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return f;
    }

    private static void guard(String target, Runnable r) {
        try {
            r.run();
        } catch (JmoeException e) {
            if (e.getMessage() == null || e.getMessage().isBlank()) throw new AssertionError(target + ": error without a message", e);
        } catch (Throwable e) {
            throw new AssertionError(target + ": input is not refused with a clear error but fails with " + e, e);
        }
    }
}
