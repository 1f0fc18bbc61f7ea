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
    idle instances take their share of the last files' mini-batches and all stay busy to the end.

    It also bounds what the files in progress hold together, counted in mini-batches (each up to
    MaxPayloadInMB):
    - ``held``, started and not yet written: at most 2 per slot, so responses that come back behind
      a slow head of line have room, whatever the number of files or instances;
    - ``pending``, started and not yet answered: every slot busy plus one waiting per instance, so a
      freed slot is taken at once, but no more mini-batches sit waiting for a slot than that.
    Files wait in ``changed`` for a request to end, a mini-batch to be written or a read to finish."""

    def __init__(self, chains: Sequence[Chain], per_chain: int) -> None:
        if not chains or per_chain < 1:
            raise ValueError("a pool needs at least one chain and one slot per chain")
        self._free: asyncio.Queue[Chain] = asyncio.Queue()
        # interleaved, so that a light load is spread over the instances rather than piled on the first
        for _ in range(per_chain):
            for chain in chains:
                self._free.put_nowait(chain)
        self.size = len(chains) * per_chain
        self.held_limit = 2 * self.size
        self.pending_limit = self.size + len(chains)
        self.held = 0
        self.pending = 0
        self._waiters: list[asyncio.Future[None]] = []

    def may_start(self) -> bool:
        return self.pending < self.pending_limit and self.held < self.held_limit

    def started(self, task: asyncio.Task[object]) -> None:
        """``task`` carries a new mini-batch: it is held until ``written`` and pending until it ends."""
        self.held += 1
        self.pending += 1
        task.add_done_callback(self._answered)

    def _answered(self, _task: object) -> None:
        self.pending -= 1
        self.notify()

    def written(self, count: int = 1) -> None:
        """``count`` mini-batches were written or dropped."""
        if count:
            self.held -= count
            self.notify()

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def changed(self) -> None:
        """Until the next ``notify``."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Chain]:
        chain = await self._free.get()
        try:
            yield chain
        finally:
            self._free.put_nowait(chain)
