package org.jmoe.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Streaming detokenizer: {@link #next(int)} takes one id and returns the text that is complete so far. Bytes of
 * a multi-byte UTF-8 character split over several tokens (byte-level BPE symbols, {@code <0xXX>} byte-fallback
 * tokens) are held until the character is complete; a sequence that cannot become valid UTF-8 is emitted as
 * U+FFFD. Not thread-safe.
 */
public final class TokenDecoder {
    private final VocabTokenizer tok;
    private byte[] pending = new byte[16];
    private int n;
    private boolean started;

    TokenDecoder(VocabTokenizer tok) {
        this.tok = tok;
    }

    /** The complete text that {@code id} adds (often empty while a character is incomplete). */
    public String next(int id) {
        byte[] piece = tok.piece(id);
        int from = 0;
        if (!started && piece.length > 0) {
            started = true;
            if (tok.stripLeadingSpace() && piece[0] == ' ') from = 1;
        }
        int len = piece.length - from;
        if (n + len > pending.length) pending = Arrays.copyOf(pending, Math.max(pending.length * 2, n + len));
        System.arraycopy(piece, from, pending, n, len);
        n += len;
        int cut = completePrefix(pending, n);
        if (cut == 0) return "";
        String s = new String(pending, 0, cut, StandardCharsets.UTF_8);
        System.arraycopy(pending, cut, pending, 0, n - cut);
        n -= cut;
        return s;
    }

    /** Whatever is held back (an incomplete character becomes U+FFFD); the decoder can go on afterwards. */
    public String flush() {
        String s = new String(pending, 0, n, StandardCharsets.UTF_8);
        n = 0;
        return s;
    }

    /** Bytes held back, waiting for the rest of a character. */
    public int pendingBytes() {
        return n;
    }

    /**
     * Length of the prefix of {@code b[0..n)} that can be decoded now: everything but a trailing sequence that
     * is a valid, incomplete start of a UTF-8 character.
     */
    static int completePrefix(byte[] b, int n) {
        for (int back = 1; back <= 3 && back <= n; back++) {
            int lead = b[n - back] & 0xff;
            if (lead < 0x80) return n;            // ASCII: nothing pending after it
            if (lead < 0xC0) continue;            // a continuation byte: look further back
            int need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (lead < 0xC2 || lead > 0xF4 || back >= need) return n; // invalid lead, or complete
            // incomplete: hold it only if what we have can still become valid
            for (int k = 1; k < back; k++) {
                int c = b[n - back + k] & 0xff;
                int lo = 0x80, hi = 0xBF;
                if (k == 1) {
                    if (lead == 0xE0) lo = 0xA0;
                    else if (lead == 0xED) hi = 0x9F;
                    else if (lead == 0xF0) lo = 0x90;
                    else if (lead == 0xF4) hi = 0x8F;
                }
                if (c < lo || c > hi) return n;
            }
            return n - back;
        }
        return n;
    }
}
