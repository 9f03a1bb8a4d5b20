package org.jmoe.parallel;

import org.jmoe.JmoeException;
import org.jmoe.moe.Placement;
import org.jmoe.tensor.Parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A mesh of D devices in one JVM, grouped into G nodes as the {@link Placement} says. A device is a driver thread
 * with its own thread pool ({@link Parallel}) for its experts' GEMMs; devices run concurrently. The machine's
 * threads are shared out evenly (at least one per device).
 */
public final class Mesh implements AutoCloseable {
    private final Placement placement;
    private final Parallel[] pools;
    private final ExecutorService drivers;

    public Mesh(Placement placement, int totalThreads) {
        if (totalThreads < 1) throw new JmoeException("--threads", "must be >= 1, got " + totalThreads);
        this.placement = placement;
        int D = placement.devices();
        this.pools = new Parallel[D];
        for (int d = 0; d < D; d++) {
            int t = Math.max(1, totalThreads / D + (d < totalThreads % D ? 1 : 0));
            pools[d] = new Parallel(t);
        }
        this.drivers = Executors.newFixedThreadPool(D, r -> {
            Thread th = new Thread(r, "jmoe-device");
            th.setDaemon(true);
            return th;
        });
    }

    public Placement placement() { return placement; }
    public int devices() { return pools.length; }
    public Parallel pool(int device) { return pools[device]; }

    /** Runs {@code work.run(d)} for every device d concurrently and waits for all; the first failure is rethrown. */
    public void onEveryDevice(DeviceWork work) {
        List<Future<?>> fs = new ArrayList<>(pools.length);
        for (int d = 0; d < pools.length; d++) {
            final int dev = d;
            fs.add(drivers.submit(() -> { work.run(dev); return null; }));
        }
        RuntimeException first = null;
        for (Future<?> f : fs) {
            try {
                f.get();
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                if (first == null) first = c instanceof RuntimeException re ? re : new IllegalStateException("device failed: " + c, c);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the devices", e);
            }
        }
        if (first != null) throw first;
    }

    /** Work for one device. */
    @FunctionalInterface
    public interface DeviceWork {
        void run(int device);
    }

    @Override
    public void close() {
        drivers.shutdownNow();
        for (Parallel p : pools) p.close();
    }
}
