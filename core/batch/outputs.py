"""What a transform writes for one input file: responses buffered in memory up to FLUSH_BYTES and
handed to a worker thread in one go, whatever the destination (a local partial file in
batch/minibatch.py, a multipart upload in batch/s3data.py)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

FLUSH_BYTES = 1024 * 1024


class BufferedOutput(ABC):
    """``write`` buffers; a full buffer (or ``flush``) goes to ``_send`` in a worker thread, so the
    event loop never blocks on a disk or the network. Subclasses add open, commit and discard."""

    def __init__(self) -> None:
        self.written = 0
        self._pieces: list[bytes] = []
        self._buffered = 0

    async def write(self, pieces: Sequence[bytes]) -> None:
        for piece in pieces:
            self._pieces.append(piece)
            self._buffered += len(piece)
            self.written += len(piece)
        if self._buffered >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        pieces, self._pieces, self._buffered = self._pieces, [], 0
        if pieces:
            await asyncio.to_thread(self._send, pieces)

    @abstractmethod
    def _send(self, pieces: Sequence[bytes]) -> None:
        """Write the pieces to the destination, in order (runs in a worker thread)."""

    def _drop_buffer(self) -> None:
        self._pieces, self._buffered = [], 0
