package org.jmoe.cluster;

import org.jmoe.JmoeException;
import org.jmoe.model.Model;
import org.jmoe.model.ModelLoader;
import org.jmoe.moe.Placement;
import org.jmoe.parallel.ChunkPlanner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.jmoe.cluster.RemoteExpertsTest.logits;
import static org.jmoe.cluster.RemoteExpertsTest.ref;

/** TLS between coordinator and workers, and the shared cluster token. */
class ClusterSecurityTest {
    /** A self-signed EC certificate for localhost / 127.0.0.1 in a PKCS#12 store, and its PEM, made with the JDK's keytool. */
    static Path[] certificate(Path dir) throws Exception {
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        Path ks = dir.resolve("worker.p12"), pem = dir.resolve("worker.pem");
        run(keytool, "-genkeypair", "-alias", "worker", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
                "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "2", "-keystore", ks.toString(), "-storetype", "PKCS12",
                "-storepass", "s3cret-pass", "-keypass", "s3cret-pass");
        run(keytool, "-exportcert", "-rfc", "-alias", "worker", "-keystore", ks.toString(), "-storepass", "s3cret-pass", "-file", pem.toString());
        return new Path[]{ks, pem};
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(out).isZero();
    }

    @Test
    void tlsAndTheClusterTokenProtectTheLinkAndKeepTheLogits(@TempDir Path dir) throws Exception {
        Path[] cert = certificate(dir);
        Path other = certificate(Files.createDirectory(dir.resolve("other")))[1]; // a certificate the worker does not have
        try (Model m = ModelLoader.load(ref("models/qwen3moe.gguf"))) {
            int E = m.config().experts;
            int[] ids = {4, 8, 15, 16, 23, 42};
            float[] want = logits(m, ids, null);
            BitSet all = new BitSet();
            all.set(0, E);
            Placement p = Placement.contiguous(E, 1, 1);
            try (WorkerServer w = new WorkerServer(m, all, "127.0.0.1", 0, ClusterSecurity.server(cert[0], "s3cret-pass".toCharArray()), "tok-123")) {
                List<String> addr = List.of("127.0.0.1:" + w.port());
                try (RemoteExperts re = RemoteExperts.connect(m.config(), p, addr, ChunkPlanner.fixed(2), true, 10_000, ClusterSecurity.channel(cert[1]), "tok-123")) {
                    assertThat(logits(m, ids, re)).containsExactly(want);
                }
                // wrong token, no token, plaintext against TLS, a certificate not trusted: refused at connect, naming the worker
                assertThatThrownBy(() -> RemoteExperts.connect(m.config(), p, addr, ChunkPlanner.fixed(1), false, 5_000, ClusterSecurity.channel(cert[1]), "nope"))
                        .isInstanceOf(JmoeException.class).hasMessageContaining("worker " + addr.get(0)).hasMessageContaining("cluster token");
                assertThatThrownBy(() -> RemoteExperts.connect(m.config(), p, addr, ChunkPlanner.fixed(1), false, 5_000, ClusterSecurity.channel(cert[1]), null))
                        .isInstanceOf(JmoeException.class).hasMessageContaining("cluster token");
                assertThatThrownBy(() -> RemoteExperts.connect(m.config(), p, addr, ChunkPlanner.fixed(1), false, 5_000, ClusterSecurity.channel(null), "tok-123"))
                        .isInstanceOf(JmoeException.class).hasMessageContaining("worker " + addr.get(0));
                assertThatThrownBy(() -> RemoteExperts.connect(m.config(), p, addr, ChunkPlanner.fixed(1), false, 5_000, ClusterSecurity.channel(other), "tok-123"))
                        .isInstanceOf(JmoeException.class).hasMessageContaining("worker " + addr.get(0));
            }
        }
        assertThatThrownBy(() -> ClusterSecurity.server(cert[0], "wrong".toCharArray())).isInstanceOf(JmoeException.class).hasMessageContaining("PKCS#12");
        Files.writeString(dir.resolve("empty"), "\n");
        assertThatThrownBy(() -> ClusterSecurity.readSecret(dir.resolve("empty"), "cluster token")).hasMessageContaining("empty");
        assertThatThrownBy(() -> ClusterSecurity.channel(dir.resolve("empty"))).isInstanceOf(JmoeException.class).hasMessageContaining("PEM");
    }
}
