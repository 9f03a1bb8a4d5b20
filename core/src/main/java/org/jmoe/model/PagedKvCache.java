package org.jmoe.model;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A KV cache in fixed-size blocks shared by many sequences: each sequence holds a table of block ids, blocks are
 * reference-counted, and full blocks of prompt tokens are indexed by their whole token prefix so that a later
 * sequence with the same prefix reuses them instead of computing them again. Memory is fixed at construction
 * ({@code blocks × blockSize × kvDim × layers × 2} floats); sequences reserve their worst case up front, so a
 * running sequence never runs out of blocks.
 *
 * <p>A block whose last user leaves stays indexed (and its contents valid) until its space is needed: the
 * least recently released such block is evicted first. Not thread-safe: one scheduler thread owns it.
 */
public final class PagedKvCache {
    private final int blockSize, layers, kvDim, blocks;
    private final float[][] k, v;
    private final int[] refs;
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private final Map<PrefixKey, Integer> index = new HashMap<>();
    private final PrefixKey[] keyOf;
    /** Indexed blocks nobody uses, least recently released first. */
    private final LinkedHashMap<Integer, Boolean> idle = new LinkedHashMap<>();
    private int reserved;
    private long reusedTokens;

    /** The identity of a full block: the key of the block before it (null for the first) and its tokens. */
    private static final class PrefixKey {
        final PrefixKey parent;
        final int[] tokens;
        final int hash;

        PrefixKey(PrefixKey parent, int[] tokens) {
            this.parent = parent;
            this.tokens = tokens;
            this.hash = 31 * (parent == null ? 0 : parent.hash) + Arrays.hashCode(tokens);
        }

        @Override public boolean equals(Object o) {
            return o instanceof PrefixKey p && p.hash == hash && Arrays.equals(p.tokens, tokens) && Objects.equals(p.parent, parent);
        }

        @Override public int hashCode() { return hash; }
    }

    public PagedKvCache(ModelConfig c, int blocks, int blockSize) {
        if (blocks < 1 || blockSize < 1) throw new IllegalArgumentException("KV cache needs at least one block of one token, got " + blocks + " × " + blockSize);
        this.blockSize = blockSize;
        this.layers = c.layers;
        this.kvDim = c.kvDim();
        this.blocks = blocks;
        this.k = new float[layers][];
        this.v = new float[layers][];
        long perLayer = (long) blocks * blockSize * kvDim;
        if (perLayer > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("KV cache of " + blocks + " blocks is too large for one array per layer");
        for (int l = 0; l < layers; l++) {
            k[l] = new float[(int) perLayer];
            v[l] = new float[(int) perLayer];
        }
        this.refs = new int[blocks];
        this.keyOf = new PrefixKey[blocks];
        for (int b = 0; b < blocks; b++) free.add(b);
    }

    /** How many blocks of {@code blockSize} tokens a KV cache of {@code bytes} holds for model {@code c}. */
    public static int blocksFor(ModelConfig c, long bytes, int blockSize) {
        long perBlock = 2L * c.layers * blockSize * c.kvDim() * Float.BYTES;
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, bytes / perBlock));
    }

    public int blockSize() { return blockSize; }
    public int totalBlocks() { return blocks; }
    /** Blocks in use by at least one sequence. */
    public int usedBlocks() { return blocks - free.size() - idle.size(); }
    /** Blocks a new reservation can take: free, idle (evictable) and not promised to running sequences. */
    public int availableBlocks() { return free.size() + idle.size() - reserved; }
    /** Prompt tokens whose KV came from a shared block instead of being computed. */
    public long reusedTokens() { return reusedTokens; }

    float[] keys(int layer) { return k[layer]; }
    float[] values(int layer) { return v[layer]; }
    int kvDim() { return kvDim; }

    /** Blocks a sequence of {@code tokens} tokens occupies. */
    public int blocksOf(int tokens) { return (tokens + blockSize - 1) / blockSize; }

    /**
     * Starts a sequence for {@code prompt} that may grow to {@code maxTokens} tokens in all: takes the indexed
     * blocks of its longest cached prefix (never the last prompt token, whose logits are needed) and reserves
     * the rest. Returns null when the reservation does not fit now.
     */
    public Sequence open(int[] prompt, int maxTokens) {
        if (maxTokens < prompt.length) throw new IllegalArgumentException("maxTokens " + maxTokens + " < prompt " + prompt.length);
        int[] table = new int[blocksOf(maxTokens)];
        int shared = 0;
        PrefixKey parent = null;
        while ((shared + 1) * blockSize < prompt.length) {
            PrefixKey key = new PrefixKey(parent, Arrays.copyOfRange(prompt, shared * blockSize, (shared + 1) * blockSize));
            Integer b = index.get(key);
            if (b == null) break;
            table[shared++] = b;
            parent = key;
        }
        int need = table.length - shared;
        // Idle blocks we are about to take leave the evictable set: count them before checking the budget.
        int taking = 0;
        for (int i = 0; i < shared; i++) if (refs[table[i]] == 0) taking++;
        if (need > availableBlocks() - taking) return null;
        for (int i = 0; i < shared; i++) {
            if (refs[table[i]]++ == 0) idle.remove(table[i]);
        }
        reserved += need;
        reusedTokens += (long) shared * blockSize;
        return new Sequence(table, shared, shared * blockSize, need, parent);
    }

    private int take() {
        Integer b = free.poll();
        if (b == null) {
            var it = idle.entrySet().iterator();
            b = it.next().getKey();
            it.remove();
            index.remove(keyOf[b]);
            keyOf[b] = null;
        }
        refs[b] = 1;
        return b;
    }

    /** One sequence's view of the cache: its block table, its length and the blocks it may still take. */
    public final class Sequence {
        private final int[] table;
        private int allocated, length, pending, registered;
        private PrefixKey lastKey;

        private Sequence(int[] table, int shared, int length, int pending, PrefixKey lastKey) {
            this.lastKey = lastKey;
            this.table = table;
            this.allocated = shared;
            this.registered = shared;
            this.length = length;
            this.pending = pending;
        }

        /** Tokens whose keys and values are in the cache. */
        public int length() { return length; }
        /** Tokens this sequence can hold. */
        public int capacity() { return table.length * blockSize; }
        /** Blocks it holds now. */
        public int blocksHeld() { return allocated; }

        /** Where position {@code p}'s keys start in a layer's arrays, allocating its block on first use. */
        int slot(int p) {
            if (p >= capacity()) throw new IllegalStateException("position " + p + " beyond the sequence's reservation of " + capacity());
            int bi = p / blockSize;
            while (allocated <= bi) {
                table[allocated++] = take();
                pending--;
                reserved--;
            }
            return (table[bi] * blockSize + p % blockSize) * kvDim;
        }

        /** Offset of position {@code p} for reading (the block must exist). */
        int offset(int p) { return (table[p / blockSize] * blockSize + p % blockSize) * kvDim; }

        /** Records that positions up to {@code newLength} are computed; indexes newly full prompt blocks. */
        void advance(int newLength, int[] prompt) {
            length = newLength;
            while ((registered + 1) * blockSize <= Math.min(length, prompt.length)) {
                PrefixKey key = new PrefixKey(lastKey, Arrays.copyOfRange(prompt, registered * blockSize, (registered + 1) * blockSize));
                int b = table[registered];
                if (keyOf[b] == null && !index.containsKey(key)) {
                    index.put(key, b);
                    keyOf[b] = key;
                }
                lastKey = key;
                registered++;
            }
        }

        /** Gives back every block and the unused reservation; the sequence is unusable afterwards. */
        public void release() {
            for (int i = 0; i < allocated; i++) {
                int b = table[i];
                if (--refs[b] == 0) {
                    if (keyOf[b] != null) idle.put(b, Boolean.TRUE);
                    else free.add(b);
                }
            }
            allocated = 0;
            reserved -= pending;
            pending = 0;
        }
    }
}
