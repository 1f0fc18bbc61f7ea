"""W3C trace context: the `traceparent` a request carries into every container of its chain."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
# We are the head of the trace when the caller sent none: sampled, so a container's own tracer
# records its part instead of dropping it.
SAMPLED = "01"


@dataclass(frozen=True)
class TraceContext:
    trace_id: str  # 32 lowercase hex digits
    parent_id: str | None  # the caller's span, None when this request starts the trace
    flags: str  # 2 hex digits

    def traceparent(self, span_id: str) -> str:
        return f"00-{self.trace_id}-{span_id}-{self.flags}"


def parse_traceparent(value: str | None) -> TraceContext | None:
    """The caller's context, or None for a missing or invalid header (the trace then restarts here,
    as the W3C specification asks). A later version's extra fields are ignored."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    rest = value.strip()[match.end() :]
    if version == "ff" or (version == "00" and rest) or (rest and not rest.startswith("-")):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return TraceContext(trace_id, parent_id, flags)


def new_trace_id() -> str:
    return f"{random.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def start(caller: str | None) -> TraceContext:
    """The caller's trace if it sent a valid traceparent, else a new one."""
    return parse_traceparent(caller) or TraceContext(new_trace_id(), None, SAMPLED)
