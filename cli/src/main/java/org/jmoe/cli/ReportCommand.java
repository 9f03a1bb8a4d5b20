package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.jmoe.JmoeException;
import org.jmoe.moe.RoutingStats;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** {@code jmoe report}: an HTML page with PNG plots from a routing statistics file. */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Draw routing statistics (--stats of generate/logits/bench/perplexity, --stats-dir of route) as an HTML page with PNG plots.")
final class ReportCommand implements Runnable {
    @Option(names = "--stats", required = true, paramLabel = "FILE", description = "Routing statistics JSON (docs/TRACE.md).")
    Path stats;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "DIR", description = "Output directory (index.html and PNG files).")
    Path out;

    @Override
    public void run() {
        JsonNode n = RoutingStats.read(stats);
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new JmoeException(out.toString(), "cannot create directory: " + e.getMessage());
        }
        RoutingReport r = new RoutingReport(n, stats.getFileName().toString());
        List<String> files = r.write(out);
        System.err.printf("jmoe: wrote %s (%s)%n", out.resolve("index.html"), String.join(", ", files));
    }
}
