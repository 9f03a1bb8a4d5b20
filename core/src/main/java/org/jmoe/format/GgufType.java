package org.jmoe.format;

/** GGUF metadata value types, with their wire ids. */
public enum GgufType {
    UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4), FLOAT32(6, 4), BOOL(7, 1),
    STRING(8, -1), ARRAY(9, -1), UINT64(10, 8), INT64(11, 8), FLOAT64(12, 8);

    final int id;
    final int size;

    GgufType(int id, int size) {
        this.id = id;
        this.size = size;
    }

    public int id() { return id; }

    static GgufType of(int id) {
        for (GgufType t : values()) if (t.id == id) return t;
        return null;
    }

    boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }
}
