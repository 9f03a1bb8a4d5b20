package org.jmoe.cluster;

import io.grpc.MethodDescriptor;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The gRPC service between coordinator and workers, {@code jmoe.Experts}: {@code Compute} (rows in, expert outputs
 * out) and {@code Info} (what the worker serves). Messages are {@link ExpertWire}'s binary layout carried as raw
 * bytes (a byte-array marshaller), so no code generation is involved.
 */
public final class ExpertService {
    private ExpertService() {}

    public static final String NAME = "jmoe.Experts";
    /** Largest message either side accepts (rows x hidden x 4 bytes of one layer's dispatch to one worker). */
    public static final int MAX_MESSAGE = 1 << 30;
    /** HTTP/2 flow-control window: large, so a layer's rows stream without waiting on window updates. */
    public static final int FLOW_WINDOW = 32 << 20;

    /** A message gRPC can size up front and write in one piece (no chunked copy through a stream). */
    private static final class Bytes extends ByteArrayInputStream implements io.grpc.KnownLength, io.grpc.Drainable {
        Bytes(byte[] b) { super(b); }

        @Override
        public int drainTo(java.io.OutputStream target) throws IOException {
            int n = count - pos;
            target.write(buf, pos, n);
            pos = count;
            return n;
        }
    }

    static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) { return new Bytes(value); }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                if (stream instanceof io.grpc.KnownLength k) {
                    int n = k.available();
                    byte[] b = new byte[n];
                    int at = 0;
                    while (at < n) {
                        int r = stream.read(b, at, n - at);
                        if (r < 0) throw new IOException("message ended after " + at + " of " + n + " bytes");
                        at += r;
                    }
                    return b;
                }
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    public static final MethodDescriptor<byte[], byte[]> COMPUTE = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(MethodDescriptor.generateFullMethodName(NAME, "Compute"))
            .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();

    public static final MethodDescriptor<byte[], byte[]> INFO = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(MethodDescriptor.generateFullMethodName(NAME, "Info"))
            .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();

    /** Returns the request unchanged: a liveness probe, and how {@code jmoe calibrate} measures the link. */
    public static final MethodDescriptor<byte[], byte[]> ECHO = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(MethodDescriptor.generateFullMethodName(NAME, "Echo"))
            .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
}
