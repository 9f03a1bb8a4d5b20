package org.jmoe.cli;

import org.jmoe.JmoeException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/** The {@code jmoe} command line. Errors are one line on stderr ({@code jmoe: ...}) and exit code 1. */
@Command(name = "jmoe", mixinStandardHelpOptions = true, version = "jmoe 0.1.0",
        description = "A Java engine for Mixture-of-Experts language models.",
        subcommands = {InfoCommand.class, LogitsCommand.class, GenerateCommand.class, BenchCommand.class, BenchEpCommand.class,
                PerplexityCommand.class, RouteCommand.class, ReportCommand.class, SimCommand.class, PlanCommand.class, SynthCommand.class, QuantizeCommand.class, CalibrateCommand.class, WorkerCommand.class, ServeCommand.class, LoadtestCommand.class, DemoCommand.class, TrainCommand.class, TrainAllocatorsCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line with the given streams; returns the exit code. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        boolean verbose = java.util.Arrays.asList(args).contains("--verbose");
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("jmoe: " + ex.getMessage() + " (see '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            err.flush();
            return 1;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            if (verbose) ex.printStackTrace(err);
            err.println("jmoe: " + describe(ex));
            err.flush();
            return 1;
        });
        return cl.execute(args);
    }

    static String describe(Throwable ex) {
        if (ex instanceof JmoeException) return ex.getMessage();
        if (ex instanceof IllegalArgumentException && ex.getMessage() != null) return ex.getMessage();
        if (ex instanceof OutOfMemoryError) return "out of memory: " + ex.getMessage() + " (give the JVM more with JMOE_JAVA_OPTS=-Xmx...)";
        if (ex instanceof java.io.UncheckedIOException u) return u.getCause().getMessage();
        if (ex instanceof java.io.IOException) return ex.getMessage();
        return ex.getClass().getSimpleName() + (ex.getMessage() != null ? ": " + ex.getMessage() : "") + " (run with --verbose for details)";
    }
}
