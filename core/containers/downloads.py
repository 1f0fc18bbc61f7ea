"""Model-data downloads in flight, per endpoint or job, for describe calls to show while they run."""

from __future__ import annotations

import threading
from typing import Any


class DownloadBoard:
    """Written from the worker threads that download, read from the event loop: a lock, not the loop,
    orders them, so a report that lands after ``finish`` (a download whose waiter was cancelled runs on
    in its thread) cannot leave a stale entry behind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}

    def update(
        self, owner_kind: str, owner: str, uri: str, received: int, total: int, ended: threading.Event | None = None
    ) -> None:
        """``ended`` is checked under the lock: once set (before ``finish``), no report adds an entry."""
        with self._lock:
            if ended is not None and ended.is_set():
                return
            self._live.setdefault((owner_kind, owner), {})[uri] = (received, total)

    def finish(self, owner_kind: str, owner: str) -> None:
        with self._lock:
            self._live.pop((owner_kind, owner), None)

    def snapshot(self, owner_kind: str, owner: str) -> list[dict[str, Any]]:
        """The owner's downloads in flight, in the wire's PascalCase: what DescribeEndpoint adds."""
        with self._lock:
            live = dict(self._live.get((owner_kind, owner), {}))
        return [
            {
                "Uri": uri,
                "BytesDownloaded": received,
                "TotalBytes": total,
                "PercentComplete": round(100 * received / total, 1) if total else 100.0,
            }
            for uri, (received, total) in sorted(live.items())
        ]
