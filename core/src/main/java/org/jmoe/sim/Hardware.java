package org.jmoe.sim;

import org.jmoe.JmoeException;

import java.util.Map;
import java.util.TreeMap;

/**
 * A machine as the cost model sees it, per device (a die: a card holds {@code diesPerCard} of them, and every
 * per-card figure of a profile is split evenly between its dies). Devices are numbered die by die, card by card,
 * node by node: device d is die {@code d mod dies} of card {@code d / dies}; card c is in node
 * {@code c / cardsPerNode}, and inside a node in fully connected group {@code (c mod cardsPerNode) / groupCards}.
 *
 * @param peakTflops        matrix-unit peak per device per dtype key ({@code fp32, bf16, fp16, int8, fp8}); a missing
 *                          key means the device has no such unit
 * @param memoryBandwidthGbs device memory bandwidth per device
 * @param memoryGb          device memory per device
 * @param groupCards        cards in one fully connected group inside a node (e.g. 4 for an Ascend 910A HCCS ring)
 * @param links             per-device link at each level (GROUP, NODE, CLUSTER), efficiency already applied
 * @param computeEfficiency fraction of peak a large GEMM reaches
 * @param memoryEfficiency  fraction of the memory bandwidth a streaming read reaches
 * @param weightStreamGbs   measured weight-streaming bandwidth per dtype label, overriding bandwidth x efficiency
 *                          (the local profile has it from the calibration); may be empty
 * @param kernelOverheadUs  fixed cost of one operator launch
 * @param epsChunkOverheadUs fixed cost of one more EPS chunk (its extra launches and synchronisation)
 * @param mmaTileRows       rows of the matrix unit's tile: a GEMM over m rows costs as ceil(m/tile)·tile rows
 * @param usableMemoryFraction share of device memory a deployment may fill (the rest is runtime and workspace)
 * @param rowEfficiency     measured compute efficiency of the GEMM tiles by rows per GEMM ({rows, efficiency} pairs,
 *                          ascending rows; empty = 1 everywhere): the local profile has it from the calibration's
 *                          expert-kernel sweep
 * @param groupedFromActive the engine's rule for its expert kernels, where the profile is an engine's (local-cpu):
 *                          grouped from this many active experts on the device, else dense with one product per
 *                          projection (gate, up, down); 0 = the faster of the two, as EPS-MoE switches them
 * @param groupedDtype      the weight format the engine's calibrated crossover was measured on ({@link SimDtype#label()});
 *                          experts of another format follow {@code groupedOtherFromActive}, as the engine's
 *                          {@code ExpertKernels.crossoverFor} does; null = {@code groupedFromActive} for every format
 * @param groupedOtherFromActive the engine's rule for experts of the other formats (its default crossover)
 * @param hub               where the devices are processes fed by one coordinator (worker JVMs over gRPC): the link
 *                          through which every expert row goes out and comes back, all devices' rows one after
 *                          another (latency per device and message, bandwidth of the coordinator's side). The
 *                          processes share the coordinator's machine and all its cores, so the transfers (CPU work at
 *                          both ends) do not overlap the experts' compute, whatever the schedule; null = the devices
 *                          exchange rows with each other over {@code links}
 * @param attention         measured rates of an engine's attention blocks in prefill, per device (the local profile has
 *                          them from the calibration's attention probe); null = attention as GEMMs and activations
 */
public record Hardware(String name, String description, Map<String, Double> peakTflops, double memoryBandwidthGbs,
                       double memoryGb, int diesPerCard, int cardsPerNode, int groupCards, Map<Level, Link> links,
                       double computeEfficiency, double memoryEfficiency, Map<String, Double> weightStreamGbs,
                       double kernelOverheadUs, double epsChunkOverheadUs, int mmaTileRows, double usableMemoryFraction,
                       java.util.List<double[]> rowEfficiency, double groupedFromActive, String groupedDtype,
                       double groupedOtherFromActive, Link hub, AttentionRates attention) {

    /**
     * An engine's attention blocks in prefill: the projections with what surrounds them (norm, q/k norm, RoPE, the
     * residual add) at {@code projectionGflops} of the projections' FLOPs, the core (scores, softmax, weighted values)
     * at {@code coreGflops} of its FLOPs. In decode the cost model's products and core, times {@code decodeFactor}
     * (what runs beside the blocks on a cut machine slows them: the ratio measured in decode steps beside the
     * devices to decode steps alone; 1 elsewhere).
     */
    public record AttentionRates(double projectionGflops, double coreGflops, double decodeFactor) {
        public AttentionRates {
            if (!(projectionGflops > 0) || !(coreGflops > 0)) throw new IllegalArgumentException("attention rates must be > 0");
            if (!(decodeFactor > 0)) throw new IllegalArgumentException("attention's decode factor must be > 0");
        }

        /** Rates for prefill; decode as the cost model has it. */
        public AttentionRates(double projectionGflops, double coreGflops) { this(projectionGflops, coreGflops, 1); }

        /** Each of {@code devices} devices' share of these rates (decode's factor unchanged). */
        public AttentionRates per(int devices) { return new AttentionRates(projectionGflops / devices, coreGflops / devices, decodeFactor); }

        /** The same rates, decode's attention taking {@code factor} times the cost model's. */
        public AttentionRates withDecodeFactor(double factor) { return new AttentionRates(projectionGflops, coreGflops, factor); }
    }

    /** A profile without the engine's per-format crossover and without a coordinator hub. */
    public Hardware(String name, String description, Map<String, Double> peakTflops, double memoryBandwidthGbs,
                    double memoryGb, int diesPerCard, int cardsPerNode, int groupCards, Map<Level, Link> links,
                    double computeEfficiency, double memoryEfficiency, Map<String, Double> weightStreamGbs,
                    double kernelOverheadUs, double epsChunkOverheadUs, int mmaTileRows, double usableMemoryFraction,
                    java.util.List<double[]> rowEfficiency, double groupedFromActive) {
        this(name, description, peakTflops, memoryBandwidthGbs, memoryGb, diesPerCard, cardsPerNode, groupCards, links, computeEfficiency,
                memoryEfficiency, weightStreamGbs, kernelOverheadUs, epsChunkOverheadUs, mmaTileRows, usableMemoryFraction, rowEfficiency,
                groupedFromActive, null, groupedFromActive, null, null);
    }

    public Hardware {
        peakTflops = new TreeMap<>(peakTflops);
        weightStreamGbs = new TreeMap<>(weightStreamGbs);
        links = Map.copyOf(links);
        rowEfficiency = java.util.List.copyOf(rowEfficiency);
        for (Level l : Level.LINKS) if (!links.containsKey(l)) throw new IllegalArgumentException("hardware " + name + " lacks a " + l + " link");
        if (diesPerCard < 1 || cardsPerNode < 1 || groupCards < 1 || cardsPerNode % groupCards != 0) {
            throw new IllegalArgumentException("hardware " + name + ": bad dies/cards/group counts");
        }
    }

    /**
     * The engine's expert-kernel rule for experts with {@code weights}: grouped from this many active experts on the
     * device ({@link #groupedFromActive()} for the format the crossover was measured on, the default rule for the
     * others); 0 = no engine rule (the faster kernel).
     */
    public double groupedFromActive(SimDtype weights) {
        return groupedDtype == null || groupedDtype.equals(weights.label()) ? groupedFromActive : groupedOtherFromActive;
    }

    public int devicesPerNode() { return cardsPerNode * diesPerCard; }

    public int devicesPerGroup() { return groupCards * diesPerCard; }

    /** Level between two devices. */
    public Level level(int a, int b) {
        if (a == b) return Level.SELF;
        int na = a / devicesPerNode(), nb = b / devicesPerNode();
        if (na != nb) return Level.CLUSTER;
        int ga = (a % devicesPerNode()) / devicesPerGroup(), gb = (b % devicesPerNode()) / devicesPerGroup();
        return ga == gb ? Level.GROUP : Level.NODE;
    }

    public Link link(Level l) { return links.get(l); }

    /** Sustained FLOP/s of a large GEMM in {@code dtype} (peak x compute efficiency); fails if the device lacks the unit. */
    public double flops(SimDtype dtype) {
        Double p = peakTflops.get(dtype.peakKey());
        if (p == null && dtype == SimDtype.FP16) p = peakTflops.get("bf16");
        if (p == null && dtype == SimDtype.BF16) p = peakTflops.get("fp16");
        if (p == null) {
            throw new JmoeException("--dtype", name + " has no " + dtype.peakKey() + " matrix unit in its profile (it has: "
                    + String.join(", ", peakTflops.keySet()) + ")");
        }
        return p * 1e12 * computeEfficiency;
    }

    /** Sustained bytes/s of device memory for activations and the KV cache. */
    public double memoryBytesPerS() { return memoryBandwidthGbs * 1e9 * memoryEfficiency; }

    /** Sustained bytes/s when streaming weights of {@code dtype} (a measured figure where the profile has one). */
    public double weightBytesPerS(SimDtype dtype) {
        Double w = weightStreamGbs.get(dtype.label());
        return w != null ? w * 1e9 : memoryBytesPerS();
    }

    /** The key under which {@link #weightStreamGbs} holds a format's streaming rate inside the grouped expert kernel. */
    public static String groupedStreamKey(SimDtype dtype) { return dtype.label() + "@grouped"; }

    /**
     * Bytes per second of weights of {@code dtype} streamed by the engine's grouped expert kernel (each thread running
     * its experts' products one after another, with their per-product costs); {@link #weightBytesPerS} where the
     * profile has no separate figure.
     */
    public double groupedWeightBytesPerS(SimDtype dtype) {
        Double w = weightStreamGbs.get(groupedStreamKey(dtype));
        return w != null ? w * 1e9 : weightBytesPerS(dtype);
    }

    /** The measured efficiency of a GEMM over {@code rows} rows (log-linear between the measured points, flat outside). */
    public double efficiency(double rows) {
        if (rowEfficiency.isEmpty() || rows <= 0) return 1;
        double[] first = rowEfficiency.getFirst(), last = rowEfficiency.getLast();
        if (rows <= first[0]) return first[1];
        if (rows >= last[0]) return last[1];
        for (int i = 1; i < rowEfficiency.size(); i++) {
            double[] a = rowEfficiency.get(i - 1), b = rowEfficiency.get(i);
            if (rows <= b[0]) {
                double f = Math.log(rows / a[0]) / Math.log(b[0] / a[0]);
                return a[1] + f * (b[1] - a[1]);
            }
        }
        return last[1];
    }

    /** The same machine with another row-efficiency curve. */
    public Hardware withRowEfficiency(java.util.List<double[]> curve) {
        return new Hardware(name, description, peakTflops, memoryBandwidthGbs, memoryGb, diesPerCard, cardsPerNode, groupCards, links,
                computeEfficiency, memoryEfficiency, weightStreamGbs, kernelOverheadUs, epsChunkOverheadUs, mmaTileRows, usableMemoryFraction, curve,
                groupedFromActive, groupedDtype, groupedOtherFromActive, hub, attention);
    }

    /** Bytes of device memory a deployment may use. */
    public double usableBytes() { return memoryGb * 1e9 * usableMemoryFraction; }
}
