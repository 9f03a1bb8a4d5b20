package org.jmoe.cluster;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.moe.Placement;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Two worker JVMs on loopback serve a model's experts; the coordinator's outputs equal the single-JVM run. */
class RemoteExpertsTest {
    static Path ref(String rel) {
        return Path.of(System.getProperty("jmoe.reference", "../../shared/reference")).resolve(rel).toAbsolutePath().normalize();
    }

    static float[] logits(Model m, int[] ids, RemoteExperts backend) {
        Forward f = new Forward(m, ids.length);
        if (backend != null) f.setExpertBackend(backend);
        float[] out = new float[ids.length * m.config().vocab];
        f.eval(ids, out, true);
        return out;
    }

    @Test
    void twoWorkerJvmsGiveTheSingleJvmLogitsAndFailCleanlyWhenOneDies() throws Exception {
        Path model = ref("models/qwen3moe.gguf");
        try (Model m = ModelLoader.load(model)) {
            int E = m.config().experts;
            SplittableRandom r = new SplittableRandom(4);
            int[] ids = new int[29];
            for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(m.config().vocab);
            float[] want = logits(m, ids, null);
            Placement p = Placement.contiguous(E, 4, 2); // 4 devices, 2 per worker JVM
            try (LocalWorkers w = new LocalWorkers(model, List.of("0-7", "8-15"), 1, 60_000)) {
                for (int chunks : new int[]{1, 3}) {
                    try (RemoteExperts re = RemoteExperts.connect(m.config(), p, w.addresses(), chunks, 20_000)) {
                        assertThat(logits(m, ids, re)).as("chunks " + chunks).containsExactly(want); // raw float bits on the wire
                        assertThat(re.wireBytes()).isPositive();
                        assertThat(re.bytes().interNodeBytes()).isPositive();
                    }
                }
                // A stopped worker fails the step with an error naming it, within the deadline.
                try (RemoteExperts re = RemoteExperts.connect(m.config(), p, w.addresses(), 1, 3_000)) {
                    w.process(1).destroyForcibly().waitFor();
                    long t0 = System.nanoTime();
                    assertThatThrownBy(() -> logits(m, ids, re)).isInstanceOf(JmoeException.class).hasMessageContaining("worker " + w.addresses().get(1));
                    assertThat((System.nanoTime() - t0) / 1e9).isLessThan(10.0);
                }
            }
            // The cluster comes back with a fresh worker pair, and checks ownership at start.
            try (LocalWorkers w = new LocalWorkers(model, List.of("0-7", "8-15"), 1, 60_000);
                 RemoteExperts re = RemoteExperts.connect(m.config(), p, w.addresses(), 2, 20_000)) {
                assertThat(logits(m, ids, re)).containsExactly(want);
            }
            try (LocalWorkers w = new LocalWorkers(model, List.of("0-9", "8-15"), 1, 60_000)) {
                assertThatThrownBy(() -> RemoteExperts.connect(m.config(), p, w.addresses(), 1, 20_000)).hasMessageContaining("duplicate ownership");
            }
            try (LocalWorkers w = new LocalWorkers(model, List.of("0-5", "8-15"), 1, 60_000)) {
                assertThatThrownBy(() -> RemoteExperts.connect(m.config(), p, w.addresses(), 1, 20_000)).hasMessageContaining("does not serve experts {6, 7}");
            }
            assertThatThrownBy(() -> RemoteExperts.connect(m.config(), p, List.of("127.0.0.1:1"), 1, 2_000)).isInstanceOf(JmoeException.class)
                    .hasMessageContaining("worker 127.0.0.1:1");
        }
    }

    @Test
    void aRestartedWorkerRejoinsTheSameCoordinator() throws Exception {
        Path model = ref("models/qwen3moe.gguf");
        try (Model m = ModelLoader.load(model)) {
            int E = m.config().experts;
            int[] ids = {5, 17, 99, 3, 250, 31, 7};
            float[] want = logits(m, ids, null);
            Placement p = Placement.contiguous(E, 2, 1);
            java.util.BitSet a = new java.util.BitSet(), b = new java.util.BitSet();
            a.set(0, E / 2);
            b.set(E / 2, E);
            WorkerServer w0 = new WorkerServer(m, a, "127.0.0.1", 0);
            WorkerServer w1 = new WorkerServer(m, b, "127.0.0.1", 0);
            int port1 = w1.port();
            List<String> addr = List.of("127.0.0.1:" + w0.port(), "127.0.0.1:" + port1);
            try (RemoteExperts re = RemoteExperts.connect(m.config(), p, addr, 1, 5_000)) {
                assertThat(logits(m, ids, re)).containsExactly(want);
                w1.close(); // the worker dies
                assertThatThrownBy(() -> logits(m, ids, re)).isInstanceOf(JmoeException.class).hasMessageContaining("worker " + addr.get(1));
                w1 = new WorkerServer(m, b, "127.0.0.1", port1); // and is restarted on its address
                assertThat(logits(m, ids, re)).as("after the restart").containsExactly(want);
            } finally {
                w0.close();
                w1.close();
            }
        }
    }

    @Test
    void aWorkerThatStopsAnsweringFailsTheStepAtTheDeadline() throws Exception {
        Path model = ref("models/qwen3moe.gguf");
        try (Model m = ModelLoader.load(model);
             LocalWorkers w = new LocalWorkers(model, List.of("0-7", "8-15"), 1, 60_000);
             RemoteExperts re = RemoteExperts.connect(m.config(), Placement.contiguous(m.config().experts, 2, 1), w.addresses(), 1, 1_500)) {
            int[] ids = {1, 2, 3};
            logits(m, ids, re); // connected and warm
            long pid = w.process(0).pid();
            new ProcessBuilder("kill", "-STOP", Long.toString(pid)).start().waitFor(); // alive, but silent
            try {
                long t0 = System.nanoTime();
                assertThatThrownBy(() -> logits(m, ids, re)).isInstanceOf(JmoeException.class)
                        .hasMessageContaining("worker " + w.addresses().get(0)).hasMessageContaining("1500 ms deadline");
                double s = (System.nanoTime() - t0) / 1e9;
                assertThat(s).isBetween(1.4, 6.0); // the deadline, not a hang
            } finally {
                new ProcessBuilder("kill", "-CONT", Long.toString(pid)).start().waitFor();
            }
        }
    }

    @Test
    void malformedMessagesAreRefusedWithClearErrors() {
        SplittableRandom r = new SplittableRandom(8);
        byte[] good = ExpertWire.request(0, 4, new int[]{1, 2}, new int[]{1, 2}, new float[12], 0, 3);
        assertThat(ExpertWire.parseRequest(good).totalRows()).isEqualTo(3);
        for (int it = 0; it < 2000; it++) {
            byte[] b = good.clone();
            int n = 1 + r.nextInt(3);
            for (int i = 0; i < n; i++) b[r.nextInt(b.length)] = (byte) r.nextInt(256);
            if (r.nextInt(4) == 0) b = java.util.Arrays.copyOf(b, r.nextInt(b.length));
            try {
                ExpertWire.parseRequest(b);
            } catch (JmoeException e) {
                assertThat(e.getMessage()).startsWith("expert request: malformed message");
            }
        }
        assertThatThrownBy(() -> Peers.parse("localhost")).hasMessageContaining("not host:port");
        assertThatThrownBy(() -> Peers.parse("a:1,a:1")).hasMessageContaining("listed twice");
        assertThatThrownBy(() -> Peers.parse("a:99999")).hasMessageContaining("out of range");
    }
}
