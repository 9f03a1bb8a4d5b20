package org.jmoe.serve;

/** Entry point for Jazzer's standalone driver (scripts/fuzz openaiRequest). */
final class ServeFuzzMain {
    private ServeFuzzMain() {}

    private static ServeTargets targets;

    /** {@code --target_class=org.jmoe.serve.ServeFuzzMain$OpenaiRequest} */
    static final class OpenaiRequest {
        public static synchronized void fuzzerTestOneInput(byte[] data) throws Exception {
            if (targets == null) targets = new ServeTargets();
            targets.openaiRequest(data);
        }
    }
}
