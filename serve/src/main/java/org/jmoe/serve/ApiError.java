package org.jmoe.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** An error answered with an HTTP status and an OpenAI-style body {@code {"error":{"message","type","param","code"}}}. */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public ApiError(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    public static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    public int status() { return status; }

    public ObjectNode body(ObjectMapper m) {
        ObjectNode root = m.createObjectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", getMessage());
        e.put("type", type);
        if (param != null) e.put("param", param); else e.putNull("param");
        if (code != null) e.put("code", code); else e.putNull("code");
        return root;
    }
}
