"""The request slots of a transform job's instances, shared by every file the job is working on.
Design notes: docs/batch-transform.md."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from inferpipe.core.containers.runtime import ContainerHandle

Chain = Sequence[ContainerHandle]


class ChainPool:
    """MaxConcurrentTransforms slots per instance. A mini-batch takes whichever slot is free, on any
    instance: files are not pinned to an instance, so when fewer files than instances remain, the
    idle instances take their share of the last files' mini-batches and all stay busy to the end."""

    def __init__(self, chains: Sequence[Chain], per_chain: int) -> None:
        if not chains or per_chain < 1:
            raise ValueError("a pool needs at least one chain and one slot per chain")
        self._free: asyncio.Queue[Chain] = asyncio.Queue()
        # interleaved, so that a light load is spread over the instances rather than piled on the first
        for _ in range(per_chain):
            for chain in chains:
                self._free.put_nowait(chain)
        self.size = len(chains) * per_chain
        # Mini-batches held in the reorder windows of all the files in progress together: 2 per slot,
        # what one file per instance with a window of 2 x MaxConcurrentTransforms held before the
        # instances shared files; more instances must not multiply each file's window as well.
        self._window = asyncio.Semaphore(2 * self.size)

    def window_full(self) -> bool:
        return self._window.locked()

    async def reserve(self) -> None:
        """Room for one more mini-batch in a reorder window; waits while the other files hold it all."""
        await self._window.acquire()

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self._window.release()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Chain]:
        chain = await self._free.get()
        try:
            yield chain
        finally:
            self._free.put_nowait(chain)
