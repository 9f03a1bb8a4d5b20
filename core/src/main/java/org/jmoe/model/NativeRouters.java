package org.jmoe.model;

import org.jmoe.moe.MoGERouter;
import org.jmoe.moe.Router;
import org.jmoe.moe.TopKRouter;

/** The router a checkpoint was trained with, from its {@link ModelConfig}. */
public final class NativeRouters {
    private NativeRouters() {}

    public static Router of(ModelConfig c) {
        return of(c, null);
    }

    /**
     * The model's own router; a model trained by jmoe with a router its config cannot express (switch, hash,
     * locmoe) names it in {@link ModelConfig#nativeRouter}, built here for the given mesh.
     */
    public static Router of(ModelConfig c, org.jmoe.moe.Placement placement) {
        if (c.experts == 0) return null;
        if (c.nativeRouter != null) {
            org.jmoe.moe.RouterSpec s = org.jmoe.moe.RouterSpec.parse(c.nativeRouter, "model router");
            if (!s.name().equals("native")) return Routers.create(s, c, placement);
        }
        if (c.routing == ModelConfig.Routing.MOGE) return new MoGERouter("native", c.groups, Math.max(1, c.expertsUsed / c.groups));
        TopKRouter.Scores s = switch (c.gating) {
            case SOFTMAX -> TopKRouter.Scores.SOFTMAX;
            case SIGMOID -> TopKRouter.Scores.SIGMOID;
            case SOFTMAX_AFTER_TOPK -> TopKRouter.Scores.SOFTMAX_AFTER_TOPK;
        };
        boolean grouped = c.routing == ModelConfig.Routing.GROUP_LIMITED;
        return new TopKRouter("native", s, c.expertsUsed, c.normTopK, c.weightsScale, grouped ? c.groups : 1, grouped ? c.groupsUsed : 1);
    }
}
