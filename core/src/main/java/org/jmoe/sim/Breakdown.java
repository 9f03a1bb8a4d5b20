package org.jmoe.sim;

import java.util.LinkedHashMap;
import java.util.Map;

/** Seconds per named stage, accumulated; reported in milliseconds. */
final class Breakdown {
    private final Map<String, Double> s = new LinkedHashMap<>();

    void add(String stage, double seconds) {
        if (seconds != 0) s.merge(stage, seconds, Double::sum);
    }

    void addAll(Breakdown o, double factor) {
        for (var e : o.s.entrySet()) add(e.getKey(), e.getValue() * factor);
    }

    double total() {
        double t = 0;
        for (double v : s.values()) t += v;
        return t;
    }

    Map<String, Double> millis() {
        Map<String, Double> out = new LinkedHashMap<>();
        for (var e : s.entrySet()) out.put(e.getKey(), e.getValue() * 1e3);
        return out;
    }
}
