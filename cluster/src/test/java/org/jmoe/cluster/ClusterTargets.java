package org.jmoe.cluster;

import org.jmoe.JmoeException;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;

/**
 * The fuzz contract for what crosses the cluster's wire and its one file: an input is either accepted — and then
 * consistent (a worker's answer has exactly the rows asked for; every peer is a valid host:port) — or refused with
 * a {@link JmoeException} naming what was wrong (for the worker, also IllegalArgumentException, which it answers
 * with INVALID_ARGUMENT). Anything else escaping is a finding.
 */
final class ClusterTargets {
    private final Model model;
    private final WorkerServer worker;
    private final Path dir;

    ClusterTargets(Path dir, Path model) {
        this.dir = dir;
        this.model = ModelLoader.load(model);
        BitSet all = new BitSet();
        all.set(0, this.model.config().experts);
        this.worker = new WorkerServer(this.model, all, "127.0.0.1", 0);
    }

    /** A worker's Compute handler, end to end: parse, validate against the model, run the experts, answer. */
    void workerRequest(byte[] data) {
        byte[] out;
        try {
            out = worker.compute(data);
        } catch (JmoeException | IllegalArgumentException refused) {
            return;
        }
        ExpertWire.Request r = ExpertWire.parseRequest(data);
        ExpertWire.Response resp = ExpertWire.parseResponse(out);
        if (resp.rows() != r.totalRows() || resp.hidden() != r.hidden()) {
            throw new IllegalStateException("answered " + resp.rows() + " rows for " + r.totalRows());
        }
    }

    /** The coordinator's parsers of worker answers: first byte 0 → a Compute response, else an Info. */
    void coordinatorMessages(byte[] data) {
        if (data.length == 0) return;
        byte[] m = java.util.Arrays.copyOfRange(data, 1, data.length);
        try {
            if (data[0] == 0) {
                ExpertWire.Response r = ExpertWire.parseResponse(m);
                if (r.y().length != (long) r.rows() * r.hidden()) throw new IllegalStateException("row buffer of " + r.y().length + " floats");
            } else {
                ExpertWire.Info i = ExpertWire.parseInfo(m);
                if (i.served() == null || i.name() == null) throw new IllegalStateException("incomplete info");
            }
        } catch (JmoeException refused) {
            // a clear refusal is the contract
        }
    }

    /** The cluster file (or, after a leading '@', a --peers list). */
    void peers(byte[] data) {
        List<String> out;
        try {
            if (data.length > 0 && data[0] == '@') {
                out = Peers.parse(new String(data, 1, data.length - 1, java.nio.charset.StandardCharsets.UTF_8));
            } else {
                Path f = dir.resolve("peers.txt");
                Files.write(f, data);
                out = Peers.parse(f.toString());
            }
        } catch (JmoeException refused) {
            return;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (out.isEmpty()) throw new IllegalStateException("accepted an empty cluster");
        for (String p : out) Peers.hostPort(p, "accepted peer"); // every accepted entry must itself be valid
    }

    /** Targets over the reference qwen3moe model, with a temporary directory of their own. */
    static ClusterTargets inTempDir() throws IOException {
        return new ClusterTargets(Files.createTempDirectory("jmoe-cluster-fuzz"), RemoteExpertsTest.ref("models/qwen3moe.gguf"));
    }

    void close() {
        worker.close();
        model.close();
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // temporary files only
        }
    }
}
