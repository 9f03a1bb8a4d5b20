package org.jmoe.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The one thread pool of the engine: {@code threads - 1} worker threads plus the calling thread run the
 * tasks of a parallel loop. Workers spin briefly between loops before parking, so the many small loops of
 * token generation (hundreds per token) cost about a microsecond to start rather than a fork/join round trip.
 * A loop started from inside a task runs serially on that thread.
 */
public final class Parallel implements AutoCloseable {
    /** The body of a parallel loop: runs task {@code task} (0-based) on worker {@code worker} (0-based, caller is 0). */
    @FunctionalInterface
    public interface Body {
        void run(int task, int worker);
    }

    private static final long SPIN_NANOS = 200_000;
    /** A pool of one thread: loops run on the caller. */
    public static final Parallel SERIAL = new Parallel(1);
    private static volatile Parallel global;

    private final int threads;
    private final Thread[] workers;
    private final Thread[] parked;
    /** The current loop; workers compare it by identity to the last one they joined. */
    private volatile Job job;
    private volatile boolean shutdown;
    private final ThreadLocal<Boolean> inside = ThreadLocal.withInitial(() -> Boolean.FALSE);

    /**
     * One parallel loop. Tasks are claimed from {@code next} and counted in {@code done} when finished, so the
     * caller waits only for tasks, never for a worker that woke too late to find any (a descheduled worker on
     * a busy machine does not delay the loop). A worker that joins a finished loop finds no task and leaves.
     */
    private static final class Job {
        final Body body;
        final int count;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Job(Body body, int count) {
            this.body = body;
            this.count = count;
        }

        /** Runs tasks until none is left; after a failure the remaining tasks are claimed but not run. */
        void run(int worker) {
            int i, finished = 0;
            while ((i = next.getAndIncrement()) < count) {
                try {
                    if (failure == null) body.run(i, worker);
                } catch (Throwable t) {
                    failure = t;
                }
                finished++;
            }
            if (finished > 0) done.addAndGet(finished);
        }
    }

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.parked = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            final int id = i + 1;
            Thread t = new Thread(() -> workerLoop(id), "jmoe-worker-" + id);
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /** The shared pool; {@link #setGlobalThreads} or {@code -Djmoe.threads} sizes it (default: available processors). */
    public static Parallel global() {
        Parallel p = global;
        if (p == null) {
            synchronized (Parallel.class) {
                p = global;
                if (p == null) {
                    int n = Integer.getInteger("jmoe.threads", Runtime.getRuntime().availableProcessors());
                    global = p = new Parallel(Math.max(1, n));
                }
            }
        }
        return p;
    }

    /** Replaces the shared pool with one of {@code threads} threads. */
    public static synchronized void setGlobalThreads(int threads) {
        Parallel old = global;
        if (old != null && old.threads == threads) return;
        global = new Parallel(threads);
        if (old != null) old.close();
    }

    public int threads() { return threads; }

    /** Runs {@code body} for tasks {@code 0 <= task < count}, spread over the pool; returns when all are done. */
    public void forEach(int count, Body body) {
        if (count <= 0) return;
        if (threads == 1 || count == 1 || inside.get()) {
            for (int i = 0; i < count; i++) body.run(i, 0);
            return;
        }
        synchronized (this) {
            Job j = new Job(body, count);
            job = j;
            for (int i = 0; i < parked.length; i++) {
                Thread t = parked[i];
                if (t != null) LockSupport.unpark(t);
            }
            inside.set(Boolean.TRUE);
            try {
                j.run(0);
            } finally {
                inside.set(Boolean.FALSE);
            }
            // tasks still running on workers: spin briefly, then let a descheduled worker have this core
            for (int spins = 0; j.done.get() != count; spins++) {
                if (spins < 10_000) Thread.onSpinWait();
                else Thread.yield();
            }
            Throwable f = j.failure;
            if (f != null) {
                if (f instanceof RuntimeException re) throw re;
                if (f instanceof Error e) throw e;
                throw new RuntimeException(f);
            }
        }
    }

    private void workerLoop(int id) {
        inside.set(Boolean.TRUE);
        Job seen = null;
        while (!shutdown) {
            long spinStart = System.nanoTime();
            while (job == seen && !shutdown) {
                if (System.nanoTime() - spinStart < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    parked[id - 1] = Thread.currentThread();
                    if (job == seen && !shutdown) LockSupport.parkNanos(10_000_000L);
                    parked[id - 1] = null;
                }
            }
            if (shutdown) return;
            seen = job;
            seen.run(id);
        }
    }

    /** Stops the workers; the pool must not be used afterwards. */
    public void close() {
        shutdown = true;
        for (Thread t : workers) LockSupport.unpark(t);
    }

    /** Splits {@code [0, n)} into at most {@code parts} ranges of near-equal size aligned to {@code align}; returns range starts (length parts+1). */
    public static int[] split(int n, int parts, int align) {
        int units = (n + align - 1) / align;
        parts = Math.max(1, Math.min(parts, units));
        int[] starts = new int[parts + 1];
        for (int p = 0; p <= parts; p++) starts[p] = Math.min(n, (int) ((long) units * p / parts) * align);
        starts[parts] = n;
        return starts;
    }
}
