package org.jmoe.serve;

import org.jmoe.tokenizer.TokenDecoder;
import org.jmoe.tokenizer.Tokenizer;

import java.util.List;

/**
 * Turns generated token ids into text deltas and watches for stop strings: text that could still become a
 * stop string is held back until it cannot, and the text from a stop string on is never emitted.
 */
final class TextAssembler {
    private final TokenDecoder decoder;
    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private final StringBuilder all = new StringBuilder();
    private boolean stopped;
    private int tokens;

    TextAssembler(Tokenizer tok, List<String> stops) {
        this.decoder = tok == null ? null : tok.decoder();
        this.stops = stops;
    }

    /** Feeds one token; returns the text that can be emitted now (maybe empty). */
    String push(int id) {
        if (stopped) return "";
        pending.append(decoder == null ? (tokens == 0 ? "" : " ") + id : decoder.next(id));
        tokens++;
        return release(false);
    }

    /** Whether a stop string was reached. */
    boolean stopped() { return stopped; }

    /** The rest of the text at the end of generation. */
    String flush() {
        if (stopped) return "";
        if (decoder != null) pending.append(decoder.flush());
        return release(true);
    }

    /** Everything emitted so far. */
    String text() { return all.toString(); }

    private String release(boolean end) {
        int cut = -1;
        for (String s : stops) {
            int i = pending.indexOf(s);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        String out;
        if (cut >= 0) {
            stopped = true;
            out = pending.substring(0, cut);
            pending.setLength(0);
        } else {
            int hold = end ? 0 : heldBack();
            out = pending.substring(0, pending.length() - hold);
            pending.delete(0, pending.length() - hold);
        }
        all.append(out);
        return out;
    }

    /** Length of the longest tail of the pending text that is a proper prefix of a stop string. */
    private int heldBack() {
        int best = 0;
        String p = pending.toString();
        for (String s : stops) {
            for (int n = Math.min(s.length() - 1, p.length()); n > best; n--) {
                if (p.regionMatches(p.length() - n, s, 0, n)) { best = n; break; }
            }
        }
        return best;
    }
}
