package org.jmoe;

/**
 * An error about input that jmoe refuses: a file, a flag or a request. Its message follows the
 * one-line convention {@code <subject>: <what is wrong> (<where>)}, e.g.
 * {@code model.gguf: tensor data out of bounds (tensor blk.0.ffn_up_exps.weight, byte offset 123456)}.
 */
public class JmoeException extends RuntimeException {
    private final String subject;
    private final String what;
    private final String where;

    public JmoeException(String subject, String what, String where) {
        this(subject, what, where, null);
    }

    public JmoeException(String subject, String what, String where, Throwable cause) {
        super(format(subject, what, where), cause);
        this.subject = subject;
        this.what = what;
        this.where = where;
    }

    public JmoeException(String subject, String what) {
        this(subject, what, null, null);
    }

    private static String format(String subject, String what, String where) {
        StringBuilder sb = new StringBuilder();
        if (subject != null && !subject.isEmpty()) sb.append(subject).append(": ");
        sb.append(what);
        if (where != null && !where.isEmpty()) sb.append(" (").append(where).append(')');
        return sb.toString();
    }

    /** The file, flag or request the error is about. */
    public String subject() { return subject; }

    /** What is wrong. */
    public String what() { return what; }

    /** Where: tensor, byte offset, field; may be null. */
    public String where() { return where; }
}
