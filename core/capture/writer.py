"""The capture writer: one thread that turns captured invocations into JSON lines and appends them,
in batches, to hourly files, rotated by size. The request path only hands over an event; when the
events waiting would pass the memory bound (the writer fell behind: a slow disk, a stalled
destination) new ones are dropped and counted, so capture never blocks or fails a request."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from inferpipe.core.capture.record import CaptureEvent, Encodings, capture_line
from inferpipe.core.capture.sink import CaptureSink

log = logging.getLogger(__name__)

# What a waiting event costs beyond its bodies (the event, its line's metadata), for the bound.
EVENT_OVERHEAD = 512
Counter = Callable[[str, str, int], None]  # endpoint, variant, records


@dataclass(frozen=True)
class WriterLimits:
    buffer_bytes: int = 64 * 1024 * 1024  # events waiting to be written, bodies included
    max_file_bytes: int = 64 * 1024 * 1024  # a file is rotated once it holds this much
    flush_seconds: float = 1.0  # the longest a captured event waits before it is written


@dataclass(frozen=True, eq=False)
class CaptureTarget:
    """One destination with its encodings: an endpoint config's DataCaptureConfig, or a transform job's."""

    sink: CaptureSink
    encodings: Encodings = Encodings()
    # The key's prefix below the destination: "endpoint/variant" for an endpoint.
    prefix: Callable[[CaptureEvent], str] = field(default=lambda e: f"{e.endpoint}/{e.variant}")


@dataclass
class _OpenFile:
    key: str
    hour: str
    size: int = 0


def hour_path(t: float) -> str:
    return time.strftime("%Y/%m/%d/%H", time.gmtime(t))


def file_name(t: float) -> str:
    """Minute, second and millisecond of the first event, then a unique id: files sort by time."""
    return time.strftime("%M-%S", time.gmtime(t)) + f"-{int(t * 1000) % 1000:03d}-{uuid.uuid4()}.jsonl"


class CaptureWriter:
    def __init__(
        self,
        limits: WriterLimits | None = None,
        *,
        on_written: Counter | None = None,
        on_dropped: Counter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits or WriterLimits()
        self.on_written = on_written
        self.on_dropped = on_dropped
        self.clock = clock
        self._cond = threading.Condition()
        self._queue: deque[tuple[CaptureTarget, CaptureEvent, int]] = deque()
        self._waiting_bytes = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._files: dict[tuple[int, str], tuple[CaptureTarget, _OpenFile]] = {}
        self.dropped = 0
        self.written = 0

    # the request path ----------------------------------------------------------------------------
    def offer(self, target: CaptureTarget, event: CaptureEvent) -> bool:
        """Queue ``event`` for writing, or drop it (False) when the writer is that far behind. Never blocks
        beyond a short lock."""
        cost = event.size + EVENT_OVERHEAD
        with self._cond:
            if self._closed or self._waiting_bytes + cost > self.limits.buffer_bytes:
                self.dropped += 1
                accepted = False
            else:
                self._queue.append((target, event, cost))
                self._waiting_bytes += cost
                accepted = True
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
                    self._thread.start()
        if not accepted and self.on_dropped is not None:
            self.on_dropped(event.endpoint, event.variant, 1)
        return accepted

    @property
    def waiting_bytes(self) -> int:
        return self._waiting_bytes

    # the writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                # One batch per window: what arrives meanwhile waits (within the memory bound) and is
                # written in one append per file, so the destination sees few, large writes.
                self._cond.wait_for(lambda: self._closed, self.limits.flush_seconds)
                batch = list(self._queue)
                self._queue.clear()
                closing = self._closed
            try:
                self._write(batch)
            finally:
                with self._cond:
                    self._waiting_bytes -= sum(cost for _, _, cost in batch)
            self._finish_past_hours()
            if closing and not batch:
                self._finish_all()
                return

    def _write(self, batch: list[tuple[CaptureTarget, CaptureEvent, int]]) -> None:
        # One append per file per batch: lines are grouped by the file they go to, in order.
        groups: dict[tuple[int, str], tuple[CaptureTarget, _OpenFile, list[bytes], list[CaptureEvent]]] = {}
        for target, event, _ in batch:
            try:
                line = capture_line(event, target.encodings)
            except Exception:  # noqa: BLE001 - a record that cannot be written is dropped, never raised
                log.exception("capture: could not encode an event of %s/%s", event.endpoint, event.variant)
                self._count_dropped([event])
                continue
            prefix = target.prefix(event)
            slot = (id(target.sink), prefix)
            hour = hour_path(event.time)
            group = groups.get(slot)
            current = group[1] if group else self._files.get(slot, (target, None))[1]
            if current is not None and (current.hour != hour or current.size >= self.limits.max_file_bytes):
                if group:
                    self._flush(*group)
                    del groups[slot]
                self._finish(slot)
                current = None
            if current is None:
                current = _OpenFile(f"{prefix}/{hour}/{file_name(event.time)}", hour)
                self._files[slot] = (target, current)
            group = groups.setdefault(slot, (target, current, [], []))
            group[2].append(line)
            group[3].append(event)
            current.size += len(line)
        for group in groups.values():
            self._flush(*group)

    def _flush(self, target: CaptureTarget, file: _OpenFile, lines: list[bytes], events: list[CaptureEvent]) -> None:
        try:
            target.sink.append(file.key, b"".join(lines))
        except Exception as exc:  # noqa: BLE001 - a destination failing loses records, never a request
            log.warning("capture: could not write %d record(s) to %s: %s", len(lines), file.key, exc)
            self._count_dropped(events)
            return
        self.written += len(events)
        if self.on_written is not None:
            for (endpoint, variant), n in _tally(events).items():
                self.on_written(endpoint, variant, n)

    def _count_dropped(self, events: list[CaptureEvent]) -> None:
        with self._cond:
            self.dropped += len(events)
        if self.on_dropped is not None:
            for (endpoint, variant), n in _tally(events).items():
                self.on_dropped(endpoint, variant, n)

    def _finish(self, slot: tuple[int, str]) -> None:
        entry = self._files.pop(slot, None)
        if entry is None:
            return
        target, file = entry
        try:
            target.sink.finish(file.key)
        except Exception as exc:  # noqa: BLE001
            log.warning("capture: could not finish %s: %s", file.key, exc)

    def _finish_past_hours(self) -> None:
        now = hour_path(self.clock())
        for slot in [s for s, (_, f) in self._files.items() if f.hour < now]:
            self._finish(slot)

    def _finish_all(self) -> None:
        for slot in list(self._files):
            self._finish(slot)

    # lifecycle -----------------------------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting, finish every file, stop the thread (within ``timeout``)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)


def _tally(events: list[CaptureEvent]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for e in events:
        out[(e.endpoint, e.variant)] = out.get((e.endpoint, e.variant), 0) + 1
    return out
