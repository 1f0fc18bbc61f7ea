"""Reading container logs as CloudWatch shows them: timestamped events per stream, from a time
on, matching a filter pattern."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LogEvent:
    timestamp: float  # epoch seconds
    stamp: str  # Docker's RFC 3339 timestamp with nanoseconds, as it printed it
    message: str


def parse_timestamped(text: str) -> list[LogEvent]:
    """Lines as `docker logs --timestamps` prints them: `2026-12-03T16:30:00.123456789Z message`."""
    events = []
    for line in text.splitlines():
        stamp, _, message = line.partition(" ")
        try:
            # fromisoformat takes at most microseconds: the nanoseconds are kept in `stamp`
            when = dt.datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
        except ValueError:
            if events:  # a line of the previous event (Docker splits only on newlines, so rare)
                events[-1] = LogEvent(events[-1].timestamp, events[-1].stamp, events[-1].message + "\n" + line)
            continue
        events.append(LogEvent(when, stamp, message))
    return events


class FilterPattern:
    """The plain-text subset of CloudWatch Logs filter patterns: every term must appear
    (case-sensitive), "a quoted phrase" counts as one term, -term must not appear, and
    ?term ?other matches events with any of them. An empty pattern matches everything."""

    def __init__(self, pattern: str | None) -> None:
        self.required: list[str] = []
        self.excluded: list[str] = []
        self.any_of: list[str] = []
        for term in shlex.split(pattern or ""):
            if term.startswith("-") and len(term) > 1:
                self.excluded.append(term[1:])
            elif term.startswith("?") and len(term) > 1:
                self.any_of.append(term[1:])
            else:
                self.required.append(term)

    def matches(self, message: str) -> bool:
        if any(t in message for t in self.excluded):
            return False
        if self.any_of and not any(t in message for t in self.any_of):
            return False
        return all(t in message for t in self.required)


def select(
    events: Iterable[LogEvent], *, since: float | None, pattern: FilterPattern, tail: int | None
) -> list[LogEvent]:
    chosen = [e for e in events if (since is None or e.timestamp >= since) and pattern.matches(e.message)]
    return chosen[-tail:] if tail else chosen
