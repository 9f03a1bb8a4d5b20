package org.jmoe.cli;

import org.jmoe.JmoeException;
import org.jmoe.format.AtomicFiles;
import org.jmoe.train.TrainLog;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

import javax.imageio.ImageIO;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The curves of one or more training runs as one PNG of four panels: training loss, validation perplexity,
 * imbalance score and cross-node fraction per step, one series per run.
 */
final class TrainPlot {
    private TrainPlot() {}

    static void write(java.nio.file.Path file, Map<String, List<TrainLog.Entry>> runs) {
        System.setProperty("java.awt.headless", "true");
        List<XYChart> charts = List.of(
                chart("Training loss", "cross-entropy + aux", runs, TrainLog.Entry::loss, false),
                chart("Validation perplexity", "perplexity", runs, e -> e.valPpl() == null ? Double.NaN : e.valPpl(), true),
                chart("Imbalance score (mean of layers)", "IS", runs, TrainLog.Entry::imbalance, false),
                chart("Cross-node fraction (mean of layers)", "fraction", runs, TrainLog.Entry::crossNode, false));
        int w = 640, h = 400;
        BufferedImage img = new BufferedImage(2 * w, 2 * h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        for (int i = 0; i < charts.size(); i++) g.drawImage(BitmapEncoder.getBufferedImage(charts.get(i)), (i % 2) * w, (i / 2) * h, null);
        g.dispose();
        AtomicFiles.write(file, tmp -> {
            if (!ImageIO.write(img, "png", tmp.toFile())) throw new JmoeException(file.toString(), "no PNG writer");
        });
    }

    private static XYChart chart(String title, String y, Map<String, List<TrainLog.Entry>> runs, ToDoubleFunction<TrainLog.Entry> f, boolean onlyFinite) {
        XYChart c = new XYChartBuilder().width(640).height(400).title(title).xAxisTitle("step").yAxisTitle(y).build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE).setMarkerSize(onlyFinite ? 5 : 0);
        c.getStyler().setChartTitleFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 14));
        for (Map.Entry<String, List<TrainLog.Entry>> run : runs.entrySet()) {
            List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
            for (TrainLog.Entry e : run.getValue()) {
                double v = f.applyAsDouble(e);
                if (!Double.isFinite(v)) continue;
                xs.add((double) e.step());
                ys.add(v);
            }
            if (!xs.isEmpty()) c.addSeries(run.getKey(), xs, ys);
        }
        return c;
    }

    static Map<String, List<TrainLog.Entry>> one(String name, List<TrainLog.Entry> log) {
        Map<String, List<TrainLog.Entry>> m = new LinkedHashMap<>();
        m.put(name, log);
        return m;
    }
}
