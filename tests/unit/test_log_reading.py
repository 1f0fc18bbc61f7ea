"""Container log events: Docker's timestamped lines, CloudWatch's filter patterns, --since, and the
archive of stopped containers' logs within its byte budget."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from inferpipe.cli.log_follow import BadSince, parse_since
from inferpipe.core.containers import labels
from inferpipe.core.containers.log_archive import LogArchive, StreamKey
from inferpipe.core.containers.log_events import FilterPattern, parse_timestamped, select

LINES = (
    "2026-12-03T16:30:00.123456789Z model GET /ping 200\n"
    "2026-12-03T16:30:01.000000001Z model POST /invocations 200\n"
    "2026-12-03T16:30:02.5Z ERROR boom in model\n"
    "a continuation line\n"
)


def test_docker_timestamped_lines_become_events() -> None:
    events = parse_timestamped(LINES)
    assert [e.message for e in events] == [
        "model GET /ping 200",
        "model POST /invocations 200",
        "ERROR boom in model\na continuation line",
    ]
    assert events[0].stamp == "2026-12-03T16:30:00.123456789Z"
    assert events[0].timestamp == pytest.approx(dt.datetime(2026, 12, 3, 16, 30, 0, 123456, dt.UTC).timestamp())


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", [0, 1, 2]),
        ("model", [0, 1, 2]),
        ("POST 200", [1]),
        ("model -ping", [1, 2]),
        ('"boom in"', [2]),
        ('"in boom"', []),
        ("?ERROR ?POST", [1, 2]),
        ("?ERROR ?POST -boom", [1]),
        ("error", []),  # case-sensitive, as CloudWatch
    ],
)
def test_filter_patterns(pattern: str, expected: list[int]) -> None:
    events = parse_timestamped(LINES)
    chosen = select(events, since=None, pattern=FilterPattern(pattern), tail=None)
    assert [events.index(e) for e in chosen] == expected


def test_since_and_tail() -> None:
    events = parse_timestamped(LINES)
    since = dt.datetime(2026, 12, 3, 16, 30, 1, tzinfo=dt.UTC).timestamp()
    assert len(select(events, since=since, pattern=FilterPattern(None), tail=None)) == 2
    assert [e.message for e in select(events, since=None, pattern=FilterPattern(None), tail=1)] == [events[2].message]
    with pytest.raises(ValueError):
        FilterPattern('"unclosed')


def test_since_option() -> None:
    now = 1_000_000.0
    assert parse_since("10m", now) == now - 600
    assert parse_since("1.5h", now) == now - 5400
    assert parse_since("2d", now) == now - 172800
    assert parse_since("123.5", now) == 123.5
    assert parse_since("2026-01-31T12:00:00Z", now) == dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC).timestamp()
    assert parse_since(None, now) is None
    with pytest.raises(BadSince, match="30s, 10m"):
        parse_since("yesterday", now)


def _key(owner: str, host: str, kind: str = "endpoint") -> StreamKey:
    lab = {
        labels.OWNER_KIND: kind,
        labels.OWNER: owner,
        labels.VARIANT: "AllTraffic",
        labels.GENERATION: "2",
        labels.INSTANCE: "0",
        labels.CONTAINER_HOSTNAME: host,
    }
    return StreamKey.from_labels(lab, 1_764_780_000)


def test_stream_names_as_cloudwatch_gives_them() -> None:
    assert _key("ep", "model").stream_name == "AllTraffic/g2-i0/model"
    assert _key("job", "model", "transform-job").stream_name == "job/g2-i0-1764780000/model"


def test_archive_keeps_within_its_budget_oldest_first(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path, budget=100)
    archive.keep(_key("ep", "a"), b"x" * 40 + b"\n")
    time.sleep(0.01)
    archive.keep(_key("ep", "b"), b"y" * 40 + b"\n")
    assert [k.hostname for k, _ in archive.streams("endpoint", "ep")] == ["a", "b"]
    time.sleep(0.01)
    archive.keep(_key("other", "c"), b"z" * 40 + b"\n")  # 123 bytes in all: the oldest goes
    assert [k.hostname for k, _ in archive.streams("endpoint", "ep")] == ["b"]
    assert [k.stream_name for k, _ in archive.streams("endpoint", "other")] == ["AllTraffic/g2-i0/c"]
    # one log larger than the whole budget: its newest whole lines are kept
    archive.keep(_key("big", "d"), b"".join(b"line %03d\n" % i for i in range(100)))
    [(_, path)] = archive.streams("endpoint", "big")
    kept = path.read_bytes()
    assert len(kept) <= 100 and kept.endswith(b"line 099\n") and kept.startswith(b"line ")
    assert sum(p.stat().st_size for p in tmp_path.rglob("*.log")) <= 100


def test_archive_of_zero_bytes_keeps_nothing(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path / "none", budget=0)
    archive.keep(_key("ep", "a"), b"hello\n")
    assert archive.streams("endpoint", "ep") == []
