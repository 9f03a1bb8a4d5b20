package org.jmoe.cluster;

import org.jmoe.JmoeException;
import org.jmoe.model.Forward;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.moe.Placement;
import org.jmoe.parallel.ChunkPlanner;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.jmoe.cluster.RemoteExpertsTest.ref;

/**
 * The fault-injection matrix of docs/RELIABILITY.md: worker JVMs killed, paused past the deadline (SIGSTOP) or
 * slowed (paused briefly) in the middle of a forward pass — injected from the routing listener, so deterministically
 * between layer 1's routing and its expert stage — during prefill (many tokens) and decode (one token), with and
 * without replicas. Outcomes: a clear error within the deadline naming the worker, or (replicas, slow) the exact
 * single-JVM logits; never wrong logits; and the cluster serves again once the worker is back.
 */
class FaultInjectionTest {
    private static final Path MODEL = ref("models/qwen3moe.gguf");
    private static final long DEADLINE = 1500;

    enum Fault { KILL, PAUSE, SLOW }

    /** Logits of {@code ids} through a fresh forward pass, with {@code fault} run once just before layer 1's experts. */
    static float[] run(Model m, int[] ids, RemoteExperts re, Runnable fault) {
        Forward f = new Forward(m, ids.length);
        f.setExpertBackend(re);
        AtomicBoolean fired = new AtomicBoolean();
        if (fault != null) f.setRoutingListener(lr -> { if (lr.layer() == 1 && fired.compareAndSet(false, true)) fault.run(); });
        float[] out = new float[ids.length * m.config().vocab];
        f.eval(ids, out, true);
        return out;
    }

    static float[] local(Model m, int[] ids) {
        Forward f = new Forward(m, ids.length);
        float[] out = new float[ids.length * m.config().vocab];
        f.eval(ids, out, true);
        return out;
    }

    static void signal(Process p, String sig) {
        try {
            new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).start().waitFor();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static Runnable inject(Fault fault, Process p, List<Thread> helpers) {
        return () -> {
            switch (fault) {
                case KILL -> {
                    p.destroyForcibly();
                    try { p.waitFor(); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
                }
                case PAUSE -> signal(p, "STOP");
                case SLOW -> {
                    signal(p, "STOP");
                    Thread t = Thread.ofPlatform().start(() -> {
                        try { Thread.sleep(DEADLINE / 4); } catch (InterruptedException ignored) { }
                        signal(p, "CONT");
                    });
                    helpers.add(t);
                }
            }
        };
    }

    @Test
    void withoutReplicasAFaultFailsTheStepWithinTheDeadlineAndASlowWorkerOnlyDelays() throws Exception {
        try (Model m = ModelLoader.load(MODEL)) {
            int E = m.config().experts;
            int[] prompt = {11, 22, 33, 44, 55, 66, 77, 88, 99, 111, 122, 133};
            int[] one = {7};
            Placement p = Placement.contiguous(E, 2, 1);
            for (Fault fault : Fault.values()) {
                for (int[] ids : new int[][]{prompt, one}) {
                    String phase = (ids.length > 1 ? "prefill" : "decode") + " " + fault;
                    float[] want = local(m, ids);
                    List<Thread> helpers = new ArrayList<>();
                    try (LocalWorkers w = new LocalWorkers(MODEL, List.of("0-7", "8-15"), 1, 60_000);
                         RemoteExperts re = RemoteExperts.connect(m.config(), p, w.addresses(), ChunkPlanner.fixed(2), ids.length > 1, DEADLINE)) {
                        assertThat(run(m, ids, re, null)).as(phase + ": healthy").containsExactly(want);
                        Process victim = w.process(1);
                        long t0 = System.nanoTime();
                        if (fault == Fault.SLOW) {
                            assertThat(run(m, ids, re, inject(fault, victim, helpers))).as(phase).containsExactly(want);
                        } else {
                            assertThatThrownBy(() -> run(m, ids, re, inject(fault, victim, helpers))).as(phase)
                                    .isInstanceOf(JmoeException.class).hasMessageContaining("worker " + w.addresses().get(1));
                            // the deadline bounds the wait (plus the time to kill or stop the process)
                            assertThat((System.nanoTime() - t0) / 1e6).as(phase + " ms").isLessThan(DEADLINE + 4000);
                            if (fault == Fault.PAUSE) {
                                signal(victim, "CONT"); // back: the same coordinator serves again
                                assertThat(run(m, ids, re, null)).as(phase + ": resumed").containsExactly(want);
                            }
                        }
                        for (Thread t : helpers) t.join();
                    }
                }
            }
        }
    }

    @Test
    void withReplicasTheStepCompletesWithoutTheLostWorkerAndItRejoinsWhenBack() throws Exception {
        try (Model m = ModelLoader.load(MODEL)) {
            int E = m.config().experts;
            // every expert on both devices: each of the two workers can serve the whole layer
            int[][] both = new int[E][];
            for (int e = 0; e < E; e++) both[e] = e < E / 2 ? new int[]{0, 1} : new int[]{1, 0};
            Placement p = Placement.of("replicated", 2, 1, both);
            int[] prompt = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};
            float[] want = local(m, prompt);
            for (Fault fault : new Fault[]{Fault.KILL, Fault.PAUSE}) {
                try (LocalWorkers w = new LocalWorkers(MODEL, List.of("0-15", "0-15"), 1, 60_000);
                     RemoteExperts re = RemoteExperts.connect(m.config(), p, w.addresses(), ChunkPlanner.fixed(1), false, DEADLINE)) {
                    List<Thread> helpers = new ArrayList<>();
                    Process victim = w.process(1);
                    assertThat(run(m, prompt, re, inject(fault, victim, helpers))).as(fault + ": completed on the replica").containsExactly(want);
                    assertThat(re.failovers()).as(fault.name()).isEqualTo(1);
                    assertThat(re.downWorkers()).containsOnlyKeys(w.addresses().get(1));
                    // later steps run on the live worker without waiting for the lost one
                    long t0 = System.nanoTime();
                    assertThat(run(m, prompt, re, null)).containsExactly(want);
                    assertThat((System.nanoTime() - t0) / 1e6).isLessThan(DEADLINE);
                    if (fault == Fault.PAUSE) {
                        signal(victim, "CONT");
                        for (int i = 0; i < 50 && !re.downWorkers().isEmpty(); i++) {
                            Thread.sleep(100);
                            run(m, new int[]{1}, re, null); // each step re-admits workers whose connection is ready
                        }
                        assertThat(re.downWorkers()).as("rejoined").isEmpty();
                        assertThat(run(m, prompt, re, null)).containsExactly(want);
                    }
                }
            }
            // Partial replication: experts 0-7 only on device 0; losing worker 0 leaves them without a holder.
            int[][] partial = new int[E][];
            for (int e = 0; e < E; e++) partial[e] = e < E / 2 ? new int[]{0} : new int[]{1, 0};
            Placement pp = Placement.of("partial", 2, 1, partial);
            try (LocalWorkers w = new LocalWorkers(MODEL, List.of("0-15", "8-15"), 1, 60_000);
                 RemoteExperts re = RemoteExperts.connect(m.config(), pp, w.addresses(), ChunkPlanner.fixed(1), false, DEADLINE)) {
                assertThat(run(m, prompt, re, null)).containsExactly(want);
                assertThatThrownBy(() -> run(m, prompt, re, inject(Fault.KILL, w.process(0), new ArrayList<>())))
                        .isInstanceOf(JmoeException.class).hasMessageContaining("worker " + w.addresses().get(0));
            }
        }
    }
}
