"""Streams for splitting tests: reads come back short, as from a pipe or a socket."""

from __future__ import annotations

import io


class Trickle(io.RawIOBase):
    """A raw stream that returns at most ``step`` bytes per read, as a pipe or socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self.step if size < 0 else min(size, self.step)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        out = self.read(len(buffer))
        memoryview(buffer)[: len(out)] = out
        return len(out)


class ReadOnly:
    """Short reads and no ``readinto``, as an S3 object's body."""

    def __init__(self, data: bytes, step: int) -> None:
        self._trickle = Trickle(data, step)

    def read(self, size: int = -1) -> bytes:
        return self._trickle.read(size)
