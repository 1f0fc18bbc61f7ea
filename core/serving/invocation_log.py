"""The daemon's own lines in a container's log stream: for a request that failed with a ModelError
or was traced, which container it reached, with its trace id and inference id, so
`inferpipe logs --filter-pattern TRACE_ID` finds it beside what the container printed. Ordinary
requests write nothing here."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

DEFAULT_KEEP = 1000


@dataclass(frozen=True)
class InvocationNote:
    timestamp: float  # epoch seconds
    endpoint: str
    stream_name: str  # {variant}/{instance}/{container}, as the container's own stream
    message: str


class InvocationLog:
    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self._notes: deque[InvocationNote] = deque(maxlen=keep)

    def note(self, endpoint: str, variant: str, instance: str, hostname: str, message: str) -> None:
        self._notes.append(InvocationNote(time.time(), endpoint, f"{variant}/{instance}/{hostname}", message))

    def of(self, endpoint: str) -> list[InvocationNote]:
        return [n for n in self._notes if n.endpoint == endpoint]
