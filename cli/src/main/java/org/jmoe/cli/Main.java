package org.jmoe.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jmoe} command line. */
@Command(name = "jmoe", mixinStandardHelpOptions = true, version = "jmoe 0.1.0",
        description = "A Java engine for Mixture-of-Experts language models.",
        subcommands = {CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }
}
