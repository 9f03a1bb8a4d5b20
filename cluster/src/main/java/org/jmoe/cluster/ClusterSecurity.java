package org.jmoe.cluster;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import org.jmoe.JmoeException;

import javax.net.ssl.KeyManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;

/**
 * What protects the coordinator–worker link: optional TLS (the worker presents a certificate from a PKCS#12 key
 * store; the coordinator trusts a PEM CA or certificate file and checks the worker's host name against it) and an
 * optional shared cluster token (sent by the coordinator in the {@value #TOKEN_HEADER} header of every call and
 * compared in constant time by the worker, which answers UNAUTHENTICATED to anything else). Both default to off,
 * as a cluster inside a trusted network runs; loopback workers ({@code --local-workers}) never need them.
 */
public final class ClusterSecurity {
    public static final String TOKEN_HEADER = "x-jmoe-cluster-token";
    private static final Metadata.Key<String> TOKEN = Metadata.Key.of(TOKEN_HEADER, Metadata.ASCII_STRING_MARSHALLER);
    /** Largest token or password file read (they are a line of text). */
    private static final long MAX_SECRET_FILE = 4096;

    private ClusterSecurity() {}

    /** Server credentials: TLS with the key store's first key, or plaintext when {@code keyStore} is null. */
    public static ServerCredentials server(Path keyStore, char[] password) {
        if (keyStore == null) return InsecureServerCredentials.create();
        try (InputStream in = Files.newInputStream(keyStore)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, password);
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, password);
            return TlsServerCredentials.newBuilder().keyManager(kmf.getKeyManagers()).build();
        } catch (IOException | GeneralSecurityException e) {
            throw new JmoeException(keyStore.toString(), "cannot use as a PKCS#12 TLS key store: " + e.getMessage());
        }
    }

    /** Channel credentials: TLS trusting the PEM file, or plaintext when {@code trustPem} is null. */
    public static ChannelCredentials channel(Path trustPem) {
        if (trustPem == null) return InsecureChannelCredentials.create();
        try (InputStream in = Files.newInputStream(trustPem)) {
            if (java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in).isEmpty()) {
                throw new JmoeException(trustPem.toString(), "cannot use as a PEM trust file: no certificate in it");
            }
            return TlsChannelCredentials.newBuilder().trustManager(trustPem.toFile()).build();
        } catch (IOException | GeneralSecurityException e) {
            throw new JmoeException(trustPem.toString(), "cannot use as a PEM trust file: " + e.getMessage());
        }
    }

    /** The first line of a secret file (cluster token, key store password), checked for size and emptiness. */
    public static String readSecret(Path file, String what) {
        try {
            if (Files.size(file) > MAX_SECRET_FILE) throw new JmoeException(file.toString(), what + " file larger than " + MAX_SECRET_FILE + " bytes");
            String s = Files.readString(file, StandardCharsets.UTF_8).lines().findFirst().orElse("").strip();
            if (s.isEmpty()) throw new JmoeException(file.toString(), what + " file is empty");
            return s;
        } catch (IOException e) {
            throw new JmoeException(file.toString(), "cannot read " + what + " file: " + e.getMessage());
        }
    }

    /** Attaches the cluster token to every call (identity when {@code token} is null). */
    public static ClientInterceptor sendToken(String token) {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> m, CallOptions o, Channel next) {
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(m, o)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        if (token != null) headers.put(TOKEN, token);
                        super.start(listener, headers);
                    }
                };
            }
        };
    }

    /** Refuses calls without the cluster token (accepts all when {@code token} is null). */
    public static ServerInterceptor requireToken(String token) {
        byte[] want = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                if (want != null) {
                    String got = headers.get(TOKEN);
                    if (got == null || !MessageDigest.isEqual(want, got.getBytes(StandardCharsets.UTF_8))) {
                        call.close(Status.UNAUTHENTICATED.withDescription("bad or missing cluster token"), new Metadata());
                        return new ServerCall.Listener<>() { };
                    }
                }
                return next.startCall(call, headers);
            }
        };
    }
}
