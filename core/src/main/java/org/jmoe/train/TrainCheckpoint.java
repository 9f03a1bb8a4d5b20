package org.jmoe.train;

import org.jmoe.JmoeException;
import org.jmoe.format.SafetensorsFile;
import org.jmoe.format.SafetensorsWriter;
import org.jmoe.tensor.DType;
import org.jmoe.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The resumable state of a run, one safetensors file written atomically after a step: parameters
 * ({@code param.NAME}), AdamW's moments ({@code adam_m.NAME}, {@code adam_v.NAME}), router state such as the
 * aux-loss-free selection bias ({@code router_state.L}), and in the metadata the step, AdamW's step count, and
 * what the run was started with. The batch sampler's state is its seed and the step ({@link TokenStream#batch}),
 * so a resumed run reads exactly the batches the killed one would have.
 */
public final class TrainCheckpoint {
    public static final String FORMAT = "jmoe-train-state/1";

    private TrainCheckpoint() {}

    /** Writes the state after {@code step} steps. {@code meta} holds what the run was started with. */
    public static void save(Path file, ParamTensors p, AdamW opt, TrainRouter[] routers, long step, Map<String, String> meta) {
        Map<String, String> md = new LinkedHashMap<>(meta);
        md.put("format", FORMAT);
        md.put("step", Long.toString(step));
        md.put("adam_t", Long.toString(opt.t));
        SafetensorsWriter w = new SafetensorsWriter(md);
        for (ParamTensors.Slot s : p.slots().values()) {
            add(w, "param." + s.name(), p.values, s);
            add(w, "adam_m." + s.name(), opt.m, s);
            add(w, "adam_v." + s.name(), opt.v, s);
        }
        for (int l = 0; l < routers.length; l++) {
            float[] st = routers[l].state(l);
            if (st != null) {
                float[] copy = st.clone();
                w.addRows("router_state." + l, DType.F32, new long[]{copy.length}, (r, dst) -> System.arraycopy(copy, 0, dst, 0, copy.length));
            }
        }
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
        } catch (java.io.IOException e) {
            throw new JmoeException(file.toString(), "cannot create directory: " + e.getMessage());
        }
        w.write(file);
    }

    private static void add(SafetensorsWriter w, String name, float[] a, ParamTensors.Slot s) {
        long[] shape = new long[s.shape().length];
        for (int i = 0; i < shape.length; i++) shape[i] = s.shape()[i];
        int cols = s.shape()[s.shape().length - 1], off = s.offset();
        w.addRows(name, DType.F32, shape, (r, dst) -> System.arraycopy(a, off + (int) r * cols, dst, 0, cols));
    }

    /** Loads a state into {@code p}, {@code opt} and the routers; returns its metadata (with {@code step}). */
    public static Map<String, String> load(Path file, ParamTensors p, AdamW opt, TrainRouter[] routers) {
        String who = file.toString();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, String> md = f.metadata();
            if (!FORMAT.equals(md.get("format"))) throw new JmoeException(who, "not a jmoe training state (format " + md.get("format") + ")", "metadata format");
            Map<String, Tensor> t = f.tensors();
            for (ParamTensors.Slot s : p.slots().values()) {
                copy(who, t, "param." + s.name(), p.values, s);
                copy(who, t, "adam_m." + s.name(), opt.m, s);
                copy(who, t, "adam_v." + s.name(), opt.v, s);
            }
            for (int l = 0; l < routers.length; l++) {
                float[] st = routers[l].state(l);
                if (st == null) continue;
                Tensor x = t.get("router_state." + l);
                if (x == null) throw new JmoeException(who, "missing router state of layer " + l, "tensor router_state." + l);
                float[] v = x.toFloats();
                if (v.length != st.length) throw new JmoeException(who, "router state has " + v.length + " values, expected " + st.length, "tensor router_state." + l);
                System.arraycopy(v, 0, st, 0, st.length);
            }
            opt.t = Long.parseLong(md.getOrDefault("adam_t", "0"));
            return new LinkedHashMap<>(md);
        } catch (NumberFormatException e) {
            throw new JmoeException(who, "bad number in metadata: " + e.getMessage(), "metadata");
        }
    }

    private static void copy(String who, Map<String, Tensor> t, String name, float[] dst, ParamTensors.Slot s) {
        Tensor x = t.get(name);
        if (x == null) throw new JmoeException(who, "missing tensor (the state is of another model shape?)", "tensor " + name);
        float[] v = x.toFloats();
        if (v.length != s.size()) throw new JmoeException(who, "has " + v.length + " values, the model needs " + s.size(), "tensor " + name);
        System.arraycopy(v, 0, dst, s.offset(), v.length);
    }
}
