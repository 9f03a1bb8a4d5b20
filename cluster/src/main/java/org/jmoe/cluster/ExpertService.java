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

    static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) { return new ByteArrayInputStream(value); }

        @Override
        public byte[] parse(InputStream stream) {
            try {
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
}
