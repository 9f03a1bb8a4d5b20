package org.jmoe.cli;

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

    @Override
    public void run() {
        try {
            mo.open().close(); // applies --threads and --expert-kernel, checks the model opens
            WorkerMain.run(listen, mo.model, experts, portFile);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
