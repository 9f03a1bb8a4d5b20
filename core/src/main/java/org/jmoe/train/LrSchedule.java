package org.jmoe.train;

/**
 * Linear warm-up to the peak rate over {@code warmup} steps, then cosine decay to {@code minRatio}·peak at the last
 * step: {@code lr(s) = peak·(s+1)/warmup} for s < warmup, else
 * {@code min + (peak − min)·½(1 + cos(π·(s − warmup)/(steps − warmup)))}.
 */
public record LrSchedule(double peak, int warmup, int steps, double minRatio) {
    public double at(int step) {
        if (step < warmup) return peak * (step + 1) / warmup;
        double min = peak * minRatio;
        int span = Math.max(1, steps - warmup);
        double x = Math.min(1.0, (double) (step - warmup) / span);
        return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * x));
    }
}
