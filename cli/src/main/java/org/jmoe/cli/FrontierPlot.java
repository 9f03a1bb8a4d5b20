package org.jmoe.cli;

import org.jmoe.sim.Planner;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The planner's throughput-latency frontier as a PNG: every (plan, schedule, batch) the search tried as a grey point
 * (latency on x, tokens/s per card on y), the batch sweeps of the best plans as lines, the Pareto frontier over all
 * points that fit in memory, and the latency limit.
 */
final class FrontierPlot {
    private FrontierPlot() {}

    static void write(Path file, List<Planner.Candidate> ranked, String latencyName, double limitMs, String title) {
        XYChart c = new XYChartBuilder().width(900).height(560).title(title)
                .xAxisTitle(latencyName + " (ms)").yAxisTitle("tokens/s per card").build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW).setMarkerSize(5);
        c.getStyler().setChartTitleFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 14));
        List<Planner.Point> all = new ArrayList<>();
        for (Planner.Candidate k : ranked) all.addAll(k.tried());
        all.removeIf(p -> !Double.isFinite(p.latencyMs()) || p.latencyMs() <= 0);
        if (all.isEmpty()) all.add(new Planner.Point("-", "-", 1, limitMs, 0, false));
        XYSeries s = c.addSeries("tried (plan, schedule, batch)", all.stream().map(Planner.Point::latencyMs).toList(),
                all.stream().map(Planner.Point::tokensPerSPerCard).toList());
        s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        s.setMarkerColor(new java.awt.Color(180, 180, 180));
        int shown = 0;
        for (Planner.Candidate k : ranked) {
            if (k.result() == null || shown == 5) continue;
            List<Planner.Point> sweep = new ArrayList<>(k.tried());
            sweep.sort(Comparator.comparingInt(Planner.Point::batch));
            if (sweep.size() < 2) continue;
            XYSeries line = c.addSeries("#" + (++shown) + " " + k.result().plan() + " " + k.schedule().name().toLowerCase(java.util.Locale.ROOT),
                    sweep.stream().map(Planner.Point::latencyMs).toList(), sweep.stream().map(Planner.Point::tokensPerSPerCard).toList());
            line.setMarker(SeriesMarkers.CIRCLE);
        }
        List<Planner.Point> front = pareto(all);
        if (front.size() >= 2) {
            XYSeries f = c.addSeries("frontier", front.stream().map(Planner.Point::latencyMs).toList(), front.stream().map(Planner.Point::tokensPerSPerCard).toList());
            f.setMarker(SeriesMarkers.NONE);
            f.setLineColor(java.awt.Color.BLACK);
        }
        double top = all.stream().mapToDouble(Planner.Point::tokensPerSPerCard).max().orElse(1);
        XYSeries lim = c.addSeries("limit " + Math.round(limitMs) + " ms", List.of(limitMs, limitMs), List.of(0.0, top));
        lim.setMarker(SeriesMarkers.NONE);
        lim.setLineColor(java.awt.Color.RED);
        RoutingReport.savePng(c, file);
    }

    /** Points no other point beats on both latency (lower) and throughput (higher), by latency; memory must fit. */
    static List<Planner.Point> pareto(List<Planner.Point> pts) {
        List<Planner.Point> sorted = new ArrayList<>(pts);
        sorted.removeIf(p -> p.tokensPerSPerCard() <= 0);
        sorted.sort(Comparator.comparingDouble(Planner.Point::latencyMs));
        List<Planner.Point> out = new ArrayList<>();
        double best = -1;
        for (Planner.Point p : sorted) {
            if (p.tokensPerSPerCard() > best) {
                out.add(p);
                best = p.tokensPerSPerCard();
            }
        }
        return out;
    }
}
