"""How often the engine looks at the world, and where it reads the time.
Design notes: docs/daemon.md."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (deadlines stored with a deployment)."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring intervals (bakes, start-up windows, drains)."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True)
class Timing:
    ping_interval: float = 0.25  # between health pings while an instance starts
    alarm_poll: float = 0.5  # between alarm evaluations during a bake
    monitor_interval: float = 1.0  # between scans for dead containers
    heal_retry: float = 1.0  # before another attempt to replace a dead instance
    clock: Clock = field(default_factory=SystemClock)
