package org.jmoe.model;

import org.jmoe.JmoeException;
import org.jmoe.tensor.Tensor;

import java.util.Arrays;
import java.util.function.Function;

/** Looks up tensors by name and checks their shapes (ggml order: ne[0] innermost) against the config. */
final class Shapes {
    private final String who;
    private final Function<String, Tensor> lookup;

    Shapes(String who, Function<String, Tensor> lookup) {
        this.who = who;
        this.lookup = lookup;
    }

    Tensor require(String name) {
        Tensor t = lookup.apply(name);
        if (t == null) throw new JmoeException(who, "missing tensor", "tensor " + name);
        return t;
    }

    /** A matrix of {@code rows} rows of {@code cols} values ({@code rows < 0}: any). */
    Tensor matrix(String name, int cols, int rows) {
        Tensor t = require(name);
        if (t.dims() != 2 || t.ne(0) != cols || (rows >= 0 && t.ne(1) != rows)) {
            throw new JmoeException(who, "shape mismatch: expected ne=[" + cols + ", " + (rows < 0 ? "*" : rows) + "], found " + Arrays.toString(t.shape()), "tensor " + name);
        }
        return t;
    }

    Tensor stack(String name, int cols, int rows, int n) {
        Tensor t = require(name);
        if (t.dims() != 3 || t.ne(0) != cols || t.ne(1) != rows || t.ne(2) != n) {
            throw new JmoeException(who, "shape mismatch: expected ne=[" + cols + ", " + rows + ", " + n + "], found " + Arrays.toString(t.shape()), "tensor " + name);
        }
        return t;
    }

    float[] vector(String name, int n) {
        Tensor t = require(name);
        if (t.elementCount() != n) {
            throw new JmoeException(who, "shape mismatch: expected " + n + " values, found " + Arrays.toString(t.shape()), "tensor " + name);
        }
        return t.toFloats();
    }

    float[] optionalVector(String name, int n) {
        return lookup.apply(name) == null ? null : vector(name, n);
    }
}
