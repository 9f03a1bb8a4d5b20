package org.jmoe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.jmoe.JmoeException;
import org.jmoe.format.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;

import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Renders a routing statistics tree (docs/TRACE.md) as PNG plots and an HTML page: the expert-load heatmap
 * (layer × expert, share of the layer's computations), device load per layer with the imbalance score, the
 * imbalance score per step, and the k histogram.
 */
final class RoutingReport {
    static final List<String> FILES = List.of("heatmap.png", "devices.png", "imbalance.png", "k_histogram.png");
    /** Drawn when the statistics carry per-device stage times (a run on a mesh or worker JVMs). */
    static final String STAGES = "stages.png";

    private final JsonNode n;
    private final String source;

    RoutingReport(JsonNode n, String source) {
        this.n = n;
        this.source = source;
    }

    /** Writes the plots and index.html into {@code dir}; returns the plot files written. */
    List<String> write(Path dir) {
        System.setProperty("java.awt.headless", "true");
        JsonNode layers = n.path("summary").path("layers");
        if (!layers.isArray() || layers.isEmpty()) throw new JmoeException(source, "no MoE layers in the statistics", "field summary.layers");
        save(heatmap(layers), dir, "heatmap.png");
        save(devices(layers), dir, "devices.png");
        save(imbalance(), dir, "imbalance.png");
        save(kHistogram(layers), dir, "k_histogram.png");
        if (n.has("stage_times")) save(stages(n.path("stage_times")), dir, STAGES);
        String html = html();
        AtomicFiles.write(dir.resolve("index.html"), tmp -> Files.writeString(tmp, html, StandardCharsets.UTF_8));
        List<String> written = new ArrayList<>(FILES);
        if (n.has("stage_times")) written.add(STAGES);
        return written;
    }

    private String router() { return n.path("router").asText("?"); }

    private String mesh() {
        JsonNode m = n.path("mesh");
        return m.path("devices").asInt() + " devices, " + m.path("nodes").asInt() + " node(s), " + m.path("placement").asText() + " placement";
    }

    private HeatMapChart heatmap(JsonNode layers) {
        int E = n.path("experts").asInt();
        List<Integer> xs = new ArrayList<>(), ys = new ArrayList<>();
        for (int e = 0; e < E; e++) xs.add(e);
        List<Number[]> cells = new ArrayList<>();
        for (JsonNode l : layers) {
            int layer = l.path("layer").asInt();
            ys.add(layer);
            double total = 0;
            for (JsonNode v : l.path("expert_tokens")) total += v.asDouble();
            for (int e = 0; e < E; e++) {
                double share = total == 0 ? 0 : 100 * l.path("expert_tokens").path(e).asDouble() / total;
                cells.add(new Number[]{e, ys.size() - 1, share});
            }
        }
        HeatMapChart c = new HeatMapChartBuilder().width(Math.max(700, 40 + 14 * E)).height(Math.max(360, 120 + 22 * ys.size()))
                .title("Expert load (% of the layer's computations), router " + router())
                .xAxisTitle("expert").yAxisTitle("MoE layer").build();
        c.getStyler().setShowValue(false);
        c.getStyler().setMin(0);
        double max = 0;
        for (Number[] cell : cells) max = Math.max(max, cell[2].doubleValue());
        c.getStyler().setMax(Math.max(1, Math.ceil(max)));
        c.getStyler().setHeatMapValueDecimalPattern("0.0");
        c.getStyler().setChartTitleFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 14));
        c.getStyler().setRangeColors(new Color[]{new Color(247, 251, 255), new Color(107, 174, 214), new Color(8, 48, 107)});
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        c.addSeries("% of the layer's computations", xs, ys, cells);
        return c;
    }

    private CategoryChart devices(JsonNode layers) {
        int D = n.path("mesh").path("devices").asInt(1);
        double is = n.path("summary").path("imbalance_score").asDouble();
        CategoryChart c = new CategoryChartBuilder().width(800).height(450)
                .title(String.format(Locale.ROOT, "Device load per layer, router %s (mean IS %.3f)", router(), is))
                .xAxisTitle("device (" + mesh() + ")").yAxisTitle("token-expert computations (whole run)").build();
        c.getStyler().setChartTitleFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 14));
        c.getStyler().setAvailableSpaceFill(0.8);
        c.getStyler().setOverlapped(false);
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        List<String> xs = new ArrayList<>();
        for (int d = 0; d < D; d++) xs.add("dev " + d);
        int shown = 0;
        for (JsonNode l : layers) {
            if (shown++ >= 12) break; // a legible number of bars per device
            List<Number> ys = new ArrayList<>();
            for (int d = 0; d < D; d++) ys.add(l.path("device_tokens").path(d).asLong());
            c.addSeries(String.format(Locale.ROOT, "layer %d (IS %.3f)", l.path("layer").asInt(), l.path("imbalance_score").asDouble()), xs, ys);
        }
        return c;
    }

    /** Dispatch, compute, combine and idle time per device, stacked (whole run). */
    private CategoryChart stages(JsonNode st) {
        CategoryChart c = new CategoryChartBuilder().width(900).height(450)
                .title(String.format(Locale.ROOT, "Expert stages per device (%s, %s, %d chunks): busiest %.2fx mean, %.0f%% of comm. hidden",
                        st.path("transport").asText(), st.path("schedule").asText(), st.path("chunks").asInt(),
                        st.path("busy_max_over_mean").asDouble(), 100 * st.path("overlap_fraction").asDouble()))
                .xAxisTitle("device (" + mesh() + ")").yAxisTitle("ms (whole run)").build();
        c.getStyler().setChartTitleFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 13));
        c.getStyler().setStacked(true);
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        List<String> xs = new ArrayList<>();
        JsonNode devs = st.path("devices");
        for (int d = 0; d < devs.size(); d++) xs.add("dev " + d);
        for (String stage : new String[]{"dispatch", "compute", "combine", "idle"}) {
            List<Number> ys = new ArrayList<>();
            for (JsonNode d : devs) ys.add(d.path(stage + "_ms").asDouble());
            c.addSeries(stage, xs, ys);
        }
        return c;
    }

    private XYChart imbalance() {
        XYChart c = new XYChartBuilder().width(800).height(400)
                .title("Imbalance score per step, router " + router())
                .xAxisTitle("step (forward call)").yAxisTitle("imbalance score, mean of layers").build();
        c.getStyler().setChartTitleFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 14));
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE).setMarkerSize(4);
        List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
        for (JsonNode st : n.path("steps")) {
            double s = 0;
            int k = 0;
            for (JsonNode l : st.path("layers")) { s += l.path("imbalance_score").asDouble(); k++; }
            xs.add((double) st.path("step").asInt());
            ys.add(k == 0 ? 0 : s / k);
        }
        if (xs.isEmpty()) { xs.add(0.0); ys.add(0.0); }
        double max = 0;
        for (double y : ys) max = Math.max(max, y);
        c.getStyler().setYAxisMin(0.0);
        c.getStyler().setYAxisMax(Math.max(0.1, max * 1.1));
        c.addSeries(router(), xs, ys);
        return c;
    }

    private CategoryChart kHistogram(JsonNode layers) {
        int maxK = n.path("max_k").asInt();
        long[] h = new long[maxK + 1];
        for (JsonNode l : layers) for (int k = 0; k <= maxK; k++) h[k] += l.path("k_histogram").path(k).asLong();
        CategoryChart c = new CategoryChartBuilder().width(800).height(400)
                .title(String.format(Locale.ROOT, "Experts per token, router %s (mean k %.2f, model's k %d)", router(), n.path("summary").path("mean_k").asDouble(),
                        n.path("experts_used").asInt()))
                .xAxisTitle("experts per token (k); k = 0: dropped").yAxisTitle("tokens x MoE layers").build();
        c.getStyler().setChartTitleFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 14));
        c.getStyler().setLegendVisible(false);
        List<String> xs = new ArrayList<>();
        List<Number> ys = new ArrayList<>();
        for (int k = 0; k <= maxK; k++) { xs.add(Integer.toString(k)); ys.add(h[k]); }
        c.addSeries("tokens", xs, ys);
        return c;
    }

    private static void save(Chart<?, ?> c, Path dir, String name) {
        savePng(c, dir.resolve(name));
    }

    /** Writes a chart as a PNG file atomically. */
    static void savePng(Chart<?, ?> c, Path file) {
        System.setProperty("java.awt.headless", "true");
        AtomicFiles.write(file, tmp -> {
            try {
                BitmapEncoder.saveBitmap(c, tmp.toString(), BitmapEncoder.BitmapFormat.PNG);
            } catch (IOException e) {
                throw new JmoeException(file.toString(), "cannot write plot: " + e.getMessage());
            }
            // XChart appends the extension to the name it is given.
            Path written = Path.of(tmp + ".png");
            if (Files.exists(written)) Files.move(written, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        });
    }

    private String html() {
        JsonNode s = n.path("summary");
        StringBuilder b = new StringBuilder();
        b.append("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>jmoe routing report: ").append(esc(router())).append("</title>\n")
                .append("<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f0f0f0}td:first-child{text-align:left}img{max-width:100%;border:1px solid #eee;margin:1em 0}</style>\n")
                .append("</head><body>\n<h1>Routing report</h1>\n<p>")
                .append("Model <code>").append(esc(n.path("model").asText())).append("</code> (").append(esc(n.path("arch").asText())).append("), router <code>")
                .append(esc(router())).append("</code>; the model's own router: ").append(esc(n.path("native_router").asText())).append(". Mesh: ").append(esc(mesh()))
                .append(". Source: <code>").append(esc(source)).append("</code>.</p>\n<table>\n");
        row(b, "steps (forward calls)", Long.toString(s.path("steps").asLong()));
        row(b, "tokens", Long.toString(s.path("tokens").asLong()));
        row(b, "imbalance score (mean over batches and layers)", String.format(Locale.ROOT, "%.4f", s.path("imbalance_score").asDouble()));
        row(b, "max / mean device load", String.format(Locale.ROOT, "%.3f", s.path("max_over_mean").asDouble()));
        row(b, "mean experts per token", String.format(Locale.ROOT, "%.3f", s.path("mean_k").asDouble()));
        row(b, "dropped assignments", Long.toString(s.path("dropped").asLong()));
        row(b, "bytes crossing devices", String.format(Locale.ROOT, "%.3f MB", s.path("cross_device_bytes").asLong() / 1e6));
        row(b, "bytes crossing nodes", String.format(Locale.ROOT, "%.3f MB", s.path("cross_node_bytes").asLong() / 1e6));
        b.append("</table>\n");
        for (String f : FILES) b.append("<img src=\"").append(f).append("\" alt=\"").append(f).append("\">\n");
        if (n.has("stage_times")) b.append("<img src=\"").append(STAGES).append("\" alt=\"").append(STAGES).append("\">\n");
        b.append("</body></html>\n");
        return b.toString();
    }

    private static void row(StringBuilder b, String k, String v) {
        b.append("<tr><td>").append(esc(k)).append("</td><td>").append(esc(v)).append("</td></tr>\n");
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
