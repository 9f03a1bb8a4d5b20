package org.jmoe.format;

import org.jmoe.JmoeException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** A whole file mapped read-only into a shared arena (any size, including more than 2 GiB). */
record MappedFile(Arena arena, MemorySegment segment, long size) {

    /** Maps {@code path}; {@code kind} names what the file should be, for the error when it is a directory. */
    static MappedFile map(Path path, String kind) {
        String who = path.toString();
        if (Files.isDirectory(path)) throw new JmoeException(who, "is a directory, not a " + kind);
        long size;
        try {
            size = Files.size(path);
        } catch (NoSuchFileException e) {
            throw new JmoeException(who, "no such file");
        } catch (IOException e) {
            throw new JmoeException(who, "cannot read: " + e.getMessage());
        }
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment seg = size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return new MappedFile(arena, seg, size);
        } catch (IOException e) {
            arena.close();
            throw new JmoeException(who, "cannot map: " + e.getMessage());
        }
    }
}
