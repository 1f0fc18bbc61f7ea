"""Inferpipe.Logs: an endpoint's or a transform job's container logs, live and kept, as CloudWatch
names them (group /aws/sagemaker/Endpoints/NAME or /aws/sagemaker/TransformJobs; one stream per
container per instance), filtered by time, instance, container and a filter pattern."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from inferpipe.core.api.shapes import check_member
from inferpipe.core.api.validation import Checker
from inferpipe.core.batch.spec import KIND as TRANSFORM_KIND
from inferpipe.core.containers.log_archive import StreamKey
from inferpipe.core.containers.log_events import FilterPattern, LogEvent, parse_timestamped, select
from inferpipe.core.containers.runtime import Runtime, RuntimeProblem
from inferpipe.core.errors import ValidationException
from inferpipe.core.serving.endpoints import KIND as ENDPOINT_KIND
from inferpipe.core.serving.invocation_log import InvocationLog, InvocationNote
from inferpipe.core.store import Store

MAX_LOG_LINES = 10_000  # lines per stream one call returns
MAX_PATTERN = 1024


def _check(req: dict[str, Any]) -> tuple[str, str, FilterPattern]:
    c = Checker()
    endpoint, job = req.get("EndpointName"), req.get("TransformJobName")
    if (endpoint is None) == (job is None):
        c.problem("Pass exactly one of EndpointName and TransformJobName.")
    if endpoint is not None:
        check_member("EndpointName", endpoint, "endpointName", c)
    if job is not None:
        check_member("TransformJobName", job, "transformJobName", c)
    check_member("ContainerHostname", req.get("ContainerHostname"), "containerHostname", c)
    c.string(req.get("InstanceId"), "instanceId", max_len=64)
    c.integer(req.get("Tail"), "tail", minimum=1, maximum=MAX_LOG_LINES)
    c.number(req.get("StartTime"), "startTime", minimum=0)
    c.string(req.get("FilterPattern"), "filterPattern", max_len=MAX_PATTERN)
    c.raise_if_any()
    try:
        pattern = FilterPattern(req.get("FilterPattern"))
    except ValueError as exc:  # an unclosed quote
        raise ValidationException(f"FilterPattern {req['FilterPattern']!r} is not valid: {exc}.") from None
    if endpoint is not None:
        return ENDPOINT_KIND, endpoint, pattern
    return TRANSFORM_KIND, job, pattern  # type: ignore[return-value]


def _event_json(e: LogEvent) -> dict[str, Any]:
    return {"Timestamp": e.timestamp, "Stamp": e.stamp, "Message": e.message}


def _stamp(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def _with_notes(
    found: list[tuple[StreamKey, bool, list[LogEvent]]], notes: list[InvocationNote]
) -> list[tuple[StreamKey, bool, list[LogEvent]]]:
    """The daemon's lines about failed and traced requests, in their container's stream, in time order."""
    by_stream: dict[str, list[InvocationNote]] = {}
    for note in notes:
        by_stream.setdefault(note.stream_name, []).append(note)
    out = []
    for key, live, events in found:
        extra = [LogEvent(n.timestamp, _stamp(n.timestamp), n.message) for n in by_stream.get(key.stream_name, [])]
        out.append((key, live, sorted(events + extra, key=lambda e: e.timestamp) if extra else events))
    return out


async def read_logs(
    runtime: Runtime, store: Store, req: dict[str, Any], notes: InvocationLog | None = None
) -> dict[str, Any]:
    kind, owner, pattern = _check(req)
    since = req.get("StartTime")
    tail = int(req.get("Tail") or 50)
    want_host, want_instance = req.get("ContainerHostname"), req.get("InstanceId")

    def wanted(key: StreamKey) -> bool:
        return (not want_host or key.hostname == want_host) and (not want_instance or key.instance_id == want_instance)

    # With a pattern, Docker's own tail would cut lines before they are matched.
    docker_tail = None if pattern.required or pattern.excluded or pattern.any_of else tail

    def gather() -> list[tuple[StreamKey, bool, list[LogEvent]]]:
        out = []
        try:
            live = runtime.log_sources(kind, owner)
        except RuntimeProblem:  # no engine: the kept logs are still there to read
            live = []
        live_keys = {k for k, _ in live}
        for key, cid in live:
            if wanted(key):
                out.append((key, True, parse_timestamped(runtime.timed_logs(cid, since, docker_tail))))
        archive = runtime.log_archive
        for key, path in archive.streams(kind, owner) if archive is not None else []:
            if wanted(key) and key not in live_keys:
                out.append((key, False, parse_timestamped(path.read_text(errors="replace"))))
        return out

    found = await asyncio.to_thread(gather)
    if not found and store.get(kind, owner) is None:
        # a deleted endpoint's or job's kept logs stay readable; with none kept, it is unknown
        what = "Endpoint" if kind == ENDPOINT_KIND else "Transform job"
        raise ValidationException(f"{what} {owner} not found, and no logs of it are kept.")
    if notes is not None and kind == ENDPOINT_KIND:
        found = _with_notes(found, notes.of(owner))
    streams = []
    for key, live, events in sorted(found, key=lambda s: s[0].stream_name):
        chosen = select(events, since=since, pattern=pattern, tail=tail)
        streams.append(
            {
                "LogStreamName": key.stream_name,
                "Live": live,
                "Events": [_event_json(e) for e in chosen],
                "Text": "".join(e.message + "\n" for e in chosen),
            }
        )
    group = f"/aws/sagemaker/Endpoints/{owner}" if kind == ENDPOINT_KIND else "/aws/sagemaker/TransformJobs"
    return {"LogGroupName": group, "Streams": streams}
