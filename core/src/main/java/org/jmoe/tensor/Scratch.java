package org.jmoe.tensor;

/** A growable float buffer, one per thread and purpose (held in a {@code ThreadLocal}); it only grows. */
final class Scratch {
    private float[] buf = new float[0];

    float[] ensure(int floats) {
        if (buf.length < floats) buf = new float[floats];
        return buf;
    }

    static ThreadLocal<Scratch> perThread() {
        return ThreadLocal.withInitial(Scratch::new);
    }
}
