package org.jmoe.cli;

import org.jmoe.model.Model;
import org.jmoe.model.ModelConfig;
import org.jmoe.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/** {@code jmoe info}: what a checkpoint is and what it needs. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show a model's architecture, sizes, dtypes, expert layout and memory needs.")
final class InfoCommand implements Runnable {
    @Mixin
    ModelOptions mo;

    @Option(names = "--ctx", paramLabel = "N", description = "Context length for the KV-cache estimate (default: min(model context, 4096)).")
    Integer ctx;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public void run() {
        try (Model m = mo.open()) {
            Map<String, Object> info = describe(m, ctx);
            if (json) {
                System.out.println(Json.write(info));
                return;
            }
            ModelConfig c = m.config();
            StringBuilder sb = new StringBuilder();
            sb.append(String.format("model        %s%n", m.path()));
            sb.append(String.format("architecture %s%s%n", c.archDisplay, c.name.isEmpty() ? "" : " (" + c.name + ")"));
            sb.append(String.format("layers       %d, hidden %d, vocab %d, context %d%n", c.layers, c.hidden, c.vocab, c.contextLength));
            sb.append(String.format("attention    %d heads, %d kv heads, head dim %d, RoPE %s theta %.0f%s%s%n", c.heads, c.kvHeads, c.headDim,
                    c.ropeType, c.ropeTheta, c.qkNorm == ModelConfig.QkNorm.NONE ? "" : ", q/k norm " + c.qkNorm.name().toLowerCase(),
                    m.layer(0).bq != null ? ", q/k/v biases" : ""));
            if (c.experts > 0) {
                sb.append(String.format("experts      %d routed (%d used per token), FFN width %d%s%s%n", c.experts, c.expertsUsed, c.expertFfn,
                        c.sharedFfn > 0 ? ", shared expert " + c.sharedFfn + (c.sharedGate == ModelConfig.SharedGate.SIGMOID ? " (sigmoid-gated)" : " (ungated)") : "",
                        c.leadingDenseLayers > 0 ? ", " + c.leadingDenseLayers + " leading dense layers" : ""));
                sb.append(String.format("routing      %s%n", c.routingDescription()));
            }
            @SuppressWarnings("unchecked") Map<String, Object> dt = (Map<String, Object>) info.get("dtypes");
            sb.append(String.format("dtypes       %s%n", dt));
            sb.append(String.format("parameters   %s total, %s active per token%n", count(((Number) info.get("params_total")).longValue()),
                    count(((Number) info.get("params_active")).longValue())));
            sb.append(String.format("memory       %.1f MiB weights (mapped), %.1f MiB KV cache at context %d%n",
                    ((Number) info.get("weight_bytes")).doubleValue() / (1 << 20), ((Number) info.get("kv_cache_bytes")).doubleValue() / (1 << 20), info.get("kv_context")));
            sb.append(String.format("tokenizer    %s%n", m.tokenizer() == null ? "none (use --tokens)" : m.tokenizer().getClass().getSimpleName() + ", " + m.tokenizer().vocabSize() + " tokens"));
            System.out.print(sb);
        }
    }

    static Map<String, Object> describe(Model m, Integer ctxOpt) {
        ModelConfig c = m.config();
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("model", m.path().toString());
        o.put("architecture", c.archDisplay);
        o.put("name", c.name);
        o.put("layers", c.layers);
        o.put("hidden", c.hidden);
        o.put("vocab", c.vocab);
        o.put("context", c.contextLength);
        o.put("heads", c.heads);
        o.put("kv_heads", c.kvHeads);
        o.put("head_dim", c.headDim);
        o.put("rope", c.ropeType.name());
        o.put("rope_theta", c.ropeTheta);
        o.put("experts", c.experts);
        o.put("experts_used", c.expertsUsed);
        o.put("expert_ffn", c.expertFfn);
        o.put("shared_ffn", c.sharedFfn);
        o.put("leading_dense_layers", c.leadingDenseLayers);
        o.put("expert_groups", c.groups);
        o.put("routing", c.routingDescription());
        Map<String, Long> byType = new TreeMap<>();
        long total = 0, expertParams = 0;
        for (Tensor t : m.tensors().values()) {
            byType.merge(t.type().name(), t.byteSize(), Long::sum);
            total += t.elementCount();
            if (t.name().contains("_exps") || t.name().contains(".experts.")) expertParams += t.elementCount();
        }
        Map<String, Object> dtypes = new LinkedHashMap<>();
        byType.forEach((k, v) -> dtypes.put(k, String.format("%.1f MiB", v / 1048576.0)));
        o.put("dtypes", dtypes);
        long active = c.experts > 0 ? total - expertParams + expertParams / c.experts * c.expertsUsed : total;
        o.put("params_total", total);
        o.put("params_active", active);
        o.put("weight_bytes", m.weightBytes());
        int ctx = ctxOpt != null ? ctxOpt : Math.min(c.contextLength, 4096);
        o.put("kv_context", ctx);
        o.put("kv_cache_bytes", 2L * c.layers * ctx * c.kvDim() * 4);
        o.put("tokenizer", m.tokenizer() != null);
        return o;
    }

    static String count(long n) {
        if (n >= 1_000_000_000L) return String.format("%.2fB", n / 1e9);
        if (n >= 1_000_000L) return String.format("%.2fM", n / 1e6);
        if (n >= 1_000L) return String.format("%.1fK", n / 1e3);
        return Long.toString(n);
    }
}
