package org.jmoe.fuzz;

import org.jmoe.model.Synth;
import org.jmoe.tensor.DType;
import org.jmoe.tokenizer.TokenizerSeeds;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Valid inputs for every fuzz target, made by the project's own writers: very small synthetic models
 * (a few KB) of several architectures and dtypes, and the tokenizer tests' files. {@code main(dir)} writes them
 * as Jazzer's seed corpus ({@code src/test/resources/org/jmoe/fuzz/ParserFuzzTestInputs/<target>/}).
 */
final class FuzzSeeds {
    private FuzzSeeds() {}

    /** Hidden 32, 1 layer, 2 heads of 16, 4 experts (2 used), FFN 32, shared 32 where the architecture has one, vocab 300. */
    static Synth.Shape micro(boolean shared, boolean mha) {
        return new Synth.Shape(32, 1, 2, mha ? 2 : 1, 16, 4, 2, 32, shared ? 32 : 0, 300, 64);
    }

    static List<byte[]> gguf(Path tmp) {
        List<byte[]> out = new ArrayList<>();
        String[][] cases = {{"qwen3moe", "F32"}, {"qwen3moe", "Q8_0"}, {"mixtral", "Q4_0"}, {"qwen2moe", "F16"}, {"olmoe", "Q8_0"}};
        for (String[] c : cases) {
            Path f = tmp.resolve(c[0] + "-" + c[1] + ".gguf");
            Synth.write(c[0], "micro", micro(c[0].equals("qwen2moe"), c[0].equals("olmoe")), DType.valueOf(c[1]), 7, f);
            out.add(read(f));
        }
        return out;
    }

    /** Pangu-style checkpoints: [config.json, model.safetensors] pairs. */
    static List<byte[][]> checkpoints(Path tmp) {
        List<byte[][]> out = new ArrayList<>();
        for (String dt : new String[]{"F32", "BF16"}) {
            Path d = tmp.resolve("pangu-" + dt);
            Synth.write("pangu-moe", "micro", micro(true, false), DType.valueOf(dt), 7, d);
            out.add(new byte[][]{read(d.resolve("config.json")), read(d.resolve("model.safetensors"))});
        }
        return out;
    }

    static List<byte[]> tokenizerJson() {
        return List.of(TokenizerSeeds.byteLevelJson().getBytes(StandardCharsets.UTF_8), TokenizerSeeds.llamaJson().getBytes(StandardCharsets.UTF_8));
    }

    static List<byte[]> sentencePiece() {
        return List.of(TokenizerSeeds.sentencePieceModel(true), TokenizerSeeds.sentencePieceModel(false));
    }

    /**
     * The checkpoint target's input as one byte array (Jazzer's corpus holds byte arrays): a 4-byte little-endian
     * length of config.json, config.json, then the safetensors file.
     */
    static byte[] packCheckpoint(byte[] config, byte[] safetensors) {
        byte[] b = new byte[4 + config.length + safetensors.length];
        b[0] = (byte) config.length; b[1] = (byte) (config.length >>> 8); b[2] = (byte) (config.length >>> 16); b[3] = (byte) (config.length >>> 24);
        System.arraycopy(config, 0, b, 4, config.length);
        System.arraycopy(safetensors, 0, b, 4 + config.length, safetensors.length);
        return b;
    }

    /** Splits {@link #packCheckpoint} back; a length past the end takes everything as config. */
    static byte[][] unpackCheckpoint(byte[] b) {
        if (b.length < 4) return new byte[][]{new byte[0], b};
        long n = (b[0] & 0xFFL) | (b[1] & 0xFFL) << 8 | (b[2] & 0xFFL) << 16 | (b[3] & 0xFFL) << 24;
        int len = (int) Math.min(n, b.length - 4);
        byte[] c = java.util.Arrays.copyOfRange(b, 4, 4 + len), s = java.util.Arrays.copyOfRange(b, 4 + len, b.length);
        return new byte[][]{c, s};
    }

    static byte[] read(Path f) {
        try {
            return Files.readAllBytes(f);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes the seed corpus under {@code args[0]} (the test resources root). */
    public static void main(String[] args) throws IOException {
        Path root = Path.of(args[0]).resolve("org/jmoe/fuzz/ParserFuzzTestInputs");
        Path tmp = Files.createTempDirectory("jmoe-seeds");
        write(root.resolve("gguf"), gguf(tmp));
        List<byte[]> ck = new ArrayList<>();
        for (byte[][] c : checkpoints(tmp)) ck.add(packCheckpoint(c[0], c[1]));
        write(root.resolve("checkpoint"), ck);
        write(root.resolve("tokenizerJson"), tokenizerJson());
        write(root.resolve("sentencePiece"), sentencePiece());
    }

    private static void write(Path dir, List<byte[]> seeds) throws IOException {
        Files.createDirectories(dir);
        for (int i = 0; i < seeds.size(); i++) Files.write(dir.resolve("seed" + i), seeds.get(i));
    }
}
