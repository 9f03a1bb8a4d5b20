package org.jmoe.cli;

import org.jmoe.cluster.ClusterSecurity;
import org.jmoe.cluster.WorkerMain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * {@code jmoe worker}: serves some of a model's experts to a coordinator over gRPC until stopped. The coordinator
 * ({@code logits}, {@code generate}, {@code bench}, {@code bench-ep}, {@code perplexity} with {@code --peers}) runs
 * attention and routing and sends each worker the rows routed to its experts.
 */
@Command(name = "worker", mixinStandardHelpOptions = true,
        description = "Serve experts of a model to a coordinator over gRPC (see --peers on the model commands).")
final class WorkerCommand implements Runnable {
    @Mixin
    ModelOptions mo;

    @Option(names = "--listen", paramLabel = "HOST:PORT", required = true, description = "Address to listen on (port 0: any free port, see --port-file).")
    String listen;

    @Option(names = "--experts", paramLabel = "LIST", required = true, description = "Experts to serve: ids and ranges, e.g. 0-31 or 0-7,16-23.")
    String experts;

    @Option(names = "--port-file", paramLabel = "FILE", description = "Write the bound port here once listening.")
    Path portFile;

    @Option(names = "--tls-keystore", paramLabel = "FILE.p12", description = "Serve over TLS with this PKCS#12 key store's key and certificate (docs/CLUSTER.md).")
    Path tlsKeyStore;

    @Option(names = "--tls-password-file", paramLabel = "FILE", description = "The key store's password (first line); default: an empty password.")
    Path tlsPasswordFile;

    @Option(names = "--cluster-token-file", paramLabel = "FILE", description = "Refuse calls that do not carry this shared token (first line); the coordinator gives the same file.")
    Path tokenFile;

    @Override
    public void run() {
        if (tlsPasswordFile != null && tlsKeyStore == null) throw new org.jmoe.JmoeException("--tls-password-file", "only used with --tls-keystore");
        char[] password = tlsPasswordFile == null ? new char[0] : ClusterSecurity.readSecret(tlsPasswordFile, "password").toCharArray();
        var credentials = ClusterSecurity.server(tlsKeyStore, password);
        String token = tokenFile == null ? null : ClusterSecurity.readSecret(tokenFile, "cluster token");
        try {
            mo.open().close(); // applies --threads and --expert-kernel, checks the model opens
            WorkerMain.run(listen, mo.model, experts, portFile, credentials, token);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
