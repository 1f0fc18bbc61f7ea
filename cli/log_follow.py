"""`inferpipe logs`: reading, filtering and following container logs through Inferpipe.Logs."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

from rich.markup import escape

from .client import ApiClient
from .render import console

FOLLOW_TAIL = 10_000
_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class BadSince(ValueError):
    pass


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """Epoch seconds from `10m` / `2h` / `1d` (ago), an ISO 8601 time, or epoch seconds."""
    if not text:
        return None
    now = time.time() if now is None else now
    raw = text.strip()
    match = _AGO.fullmatch(raw)
    if match:
        return now - float(match.group(1)) * _UNIT[match.group(2)]
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadSince(
            f"--since {text!r} is not a time: use an age (30s, 10m, 2h, 1d), an ISO 8601 time"
            " (2026-01-31T12:00:00Z) or epoch seconds."
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # a local time, as the user's clock shows it
    return when.timestamp()


def _events(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [(s["LogStreamName"], e) for s in data["Streams"] for e in s["Events"]]
    return sorted(out, key=lambda pair: (pair[1]["Timestamp"], pair[1]["Stamp"]))


def poll(client: ApiClient, req: dict[str, Any], interval: float = 1.0) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(group, stream, event) for every event now and, then, as it is written. An event is seen
    once: each poll asks from the newest second seen on and drops what it already yielded."""
    seen: set[tuple[str, str, str]] = set()
    request = dict(req)
    while True:
        data = client.call("Logs", request, prefix="Inferpipe")
        newest = request.get("StartTime") or 0.0
        for stream, event in _events(data):
            key = (stream, event["Stamp"], event["Message"])
            if key in seen:
                continue
            seen.add(key)
            newest = max(newest, event["Timestamp"])
            yield data["LogGroupName"], stream, event
        # the engine's `since` has whole-second steps here; the `seen` set bridges the overlap
        request = {**req, "StartTime": float(int(newest)), "Tail": FOLLOW_TAIL}
        seen = {k for k in seen if k[1] >= _stamp_floor(newest)}
        time.sleep(interval)


def _stamp_floor(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def print_event(group: str, stream: str, event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        line = {"LogGroupName": group, "LogStreamName": stream, **event}
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    when = dt.datetime.fromtimestamp(event["Timestamp"]).strftime("%H:%M:%S.%f")[:-3]
    console.print(f"[dim]{when}[/dim] [cyan]{escape(stream)}[/cyan] {escape(event['Message'])}", highlight=False)


def print_streams(data: dict[str, Any]) -> None:
    for stream in data["Streams"]:
        kept = "" if stream["Live"] else " [dim](container gone; kept)[/dim]"
        console.rule(f"{escape(data['LogGroupName'])} {escape(stream['LogStreamName'])}{kept}")
        console.print(stream["Text"].rstrip(), markup=False, highlight=False)
