package org.jmoe.train;

/**
 * A router as training sees it: it turns gate logits into a {@link Routing}, and maps the gradient of the loss with
 * respect to the routing weights (plus its own auxiliary losses) back to the gate logits. Implementations hold no
 * per-batch state beyond what they write into the {@link Routing}, except routers that adapt between steps
 * ({@link #afterStep}).
 */
public interface TrainRouter {
    /** The spec as given (e.g. {@code switch:cf=1.25}). */
    String spec();

    /** The spec the inference engine's {@code Routers.create} builds the same routing from (written as {@code jmoe_router}). */
    String inferenceSpec();

    /** Slots per token. */
    int slots();

    /** Whether the gate matrix is learned (false: hash routing, GrAP's fixed slice means). */
    default boolean learnedGate() { return true; }

    /**
     * Gate logits when the router computes them itself (GrAP), else false and the caller computes {@code W_gate x}.
     * {@code x} is n × hidden.
     */
    default boolean ownLogits(float[] x, int n, int hidden, float[] logits) { return false; }

    /** Adds to {@code dx} (n × hidden) the gradient through {@link #ownLogits}, given {@code dlogits}. */
    default void ownLogitsBackward(float[] dlogits, int n, int hidden, float[] dx) { }

    /** Routes n rows. {@code tokens} are the token ids and {@code home} each row's node (for locality-aware routers). */
    void route(float[] logits, int[] tokens, int[] home, int n, Routing out);

    /** Adds to {@code dlogits} (n × experts) the gradient of the loss given {@code dweight} (n × k), auxiliary losses included. */
    void backward(Routing r, float[] logits, float[] dweight, float[] dlogits);

    /** Called once after each optimizer step with the step's routing of one layer (aux-loss-free bias updates). */
    default void afterStep(int layer, Routing r) { }

    /** Router state to save with a checkpoint (selection biases), or null. */
    default float[] state(int layer) { return null; }
}
