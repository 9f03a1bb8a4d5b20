package org.jmoe.cluster;

import org.jmoe.JmoeException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The static cluster description: worker addresses from a file (one {@code host:port} a line, {@code #} comments) or a list. */
public final class Peers {
    /** A DNS name or IPv4 address (letters, digits, dots, hyphens, underscores), or a bracketed IPv6 address. */
    private static final java.util.regex.Pattern HOST = java.util.regex.Pattern.compile("[A-Za-z0-9._-]{1,253}|\\[[0-9A-Fa-f:.%a-zA-Z]{2,100}\\]");

    private Peers() {}

    /** {@code spec} is a file name, or {@code host:port[,host:port...]}. */
    public static List<String> parse(String spec) {
        List<String> out = new ArrayList<>();
        Path f;
        try {
            f = Path.of(spec);
        } catch (java.nio.file.InvalidPathException e) {
            f = null; // not a file name (e.g. a NUL in it): read as a list, which then names what is wrong
        }
        if (f != null && Files.isRegularFile(f)) {
            List<String> lines;
            try {
                if (Files.size(f) > (1 << 20)) throw new JmoeException(spec, "peers file larger than 1 MiB");
                lines = Files.readAllLines(f);
            } catch (IOException e) {
                throw new JmoeException(spec, "cannot read peers file: " + e.getMessage());
            }
            for (int i = 0; i < lines.size(); i++) {
                String l = lines.get(i).replaceAll("#.*", "").strip();
                if (l.isEmpty()) continue;
                hostPort(l, spec + " line " + (i + 1));
                out.add(l);
            }
        } else {
            for (String p : spec.split(",")) {
                hostPort(p.strip(), "--peers");
                out.add(p.strip());
            }
        }
        if (out.isEmpty()) throw new JmoeException(spec, "no peers listed");
        if (out.stream().distinct().count() != out.size()) throw new JmoeException(spec, "a peer is listed twice");
        return out;
    }

    /** Splits and checks {@code host:port} ({@code [v6]:port} gives the address without brackets). */
    public static String[] hostPort(String s, String where) {
        int c = s.lastIndexOf(':');
        if (c <= 0 || c == s.length() - 1) throw new JmoeException(where, "'" + s + "' is not host:port");
        String host = s.substring(0, c), port = s.substring(c + 1);
        if (!HOST.matcher(host).matches()) {
            throw new JmoeException(where, "'" + host + "' is not a host name, IPv4 address or [IPv6] address in '" + s + "'");
        }
        try {
            int p = Integer.parseInt(port);
            if (p < 0 || p > 65535) throw new JmoeException(where, "port " + p + " out of range in '" + s + "'");
        } catch (NumberFormatException e) {
            throw new JmoeException(where, "port '" + port + "' is not a number in '" + s + "'");
        }
        return new String[]{host.startsWith("[") ? host.substring(1, host.length() - 1) : host, port};
    }
}
