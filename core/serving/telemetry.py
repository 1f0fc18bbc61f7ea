"""OpenTelemetry spans for invocations: one per request, one child per container hop, exported
over OTLP/HTTP when the standard OTEL_* environment asks for it. Off by default, and then the
SDK is never imported: the daemon's start-up and request path pay nothing.

On the request path a span is a small record; a child process (serving/span_export.py) turns the
records into the SDK's spans and exports them with the SDK's batch processor and OTLP exporter.
Why: the SDK's own spans cost the event loop about 220 us per request of a three-container chain,
and encoding them about 130 us more under the same interpreter lock, which held c=16 throughput
at 0.75x of the same daemon without export (bench otlp)."""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import random
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO, Any

from inferpipe.core.serving.trace_context import TraceContext

log = logging.getLogger("inferpipe.telemetry")

_OFF = ("", "none")
SERVER, CLIENT = 1, 2  # the OpenTelemetry API's SpanKind values
MAX_QUEUE = 4096  # spans waiting for the exporter process (twice the SDK's own queue: bursts)
FLUSH_SECONDS = 0.2
FLUSH_SPANS = 512
EXPORTER_COMMAND = (sys.executable, "-m", "inferpipe.core.serving.span_export")
STOP_SECONDS = 10.0  # the exporter's own timeout per export; a collector that is down gets no more


def export_wanted(env: Mapping[str, str]) -> bool:
    """OTLP export is on when an OTLP endpoint is set, the SDK is not disabled and the traces
    exporter is not set to something else."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter in _OFF or "otlp" not in exporter.split(","):
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class Span:
    """One span being recorded: what the exporter needs, nothing more. An unsampled span (the
    caller's traceparent said so, or the sampler did) still has ids to propagate but is never
    shipped."""

    __slots__ = ("trace_id", "span_id", "parent_id", "remote_parent", "name", "kind", "start", "attributes",
                 "error", "sampled", "_shipper")  # fmt: skip

    def __init__(
        self,
        trace_id: int,
        parent_id: int,
        remote_parent: bool,
        name: str,
        kind: int,
        attributes: dict[str, Any],
        sampled: bool,
        shipper: SpanShipper,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = random.getrandbits(64) or 1
        self.parent_id = parent_id
        self.remote_parent = remote_parent
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.error: str | None = None
        self.sampled = sampled
        self._shipper = shipper
        self.start = time.time_ns()

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def end(self) -> None:
        if self.sampled:
            self._shipper.add(
                (
                    self.trace_id,
                    self.span_id,
                    self.parent_id,
                    self.remote_parent,
                    self.name,
                    self.kind,
                    self.start,
                    time.time_ns(),
                    self.attributes,
                    self.error,
                )  # fmt: skip
            )


class SpanShipper:
    """Ships ended spans to the exporter process in batches, from a thread of its own, so the event
    loop only appends to a queue. A full queue (an exporter that cannot keep up) drops spans, as
    the SDK's batch processor does; an exporter process that died drops them all, with one warning."""

    def __init__(
        self,
        max_queue: int = MAX_QUEUE,
        flush_seconds: float = FLUSH_SECONDS,
        command: Sequence[str] = EXPORTER_COMMAND,
    ) -> None:
        self.max_queue = max_queue
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._proc = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            env=os.environ.copy(),
        )
        self._pipe: IO[bytes] | None = self._proc.stdin
        self._thread = threading.Thread(target=self._run, name="otlp-spans", daemon=True)
        self._thread.start()

    def add(self, record: tuple[Any, ...]) -> None:
        if len(self._queue) >= self.max_queue or self._pipe is None:
            self.dropped += 1
            return
        self._queue.append(record)
        if len(self._queue) == FLUSH_SPANS:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._send()
            if self._stopping:
                self._send()
                return

    def _send(self) -> None:
        queue = self._queue
        count = len(queue)
        if not count:
            return
        batch = [queue.popleft() for _ in range(count)]
        if self._pipe is None:
            return
        try:
            marshal.dump(batch, self._pipe)
            self._pipe.flush()
        except (OSError, ValueError) as exc:
            log.warning("OpenTelemetry: the exporter process is gone (%s): spans are dropped from now on", exc)
            self._pipe = None
            queue.clear()

    def shutdown(self, timeout: float = STOP_SECONDS) -> None:
        """Ship what is queued, then let the exporter flush and exit (blocking: a worker thread)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("OpenTelemetry: the exporter process did not finish within %s s: stopped", timeout)
            self._proc.kill()
            self._proc.wait()
        if self.dropped:
            log.warning("OpenTelemetry: %d spans were dropped (the exporter could not keep up)", self.dropped)


class Telemetry:
    """Spans for the router, shipped to the exporter process. Sampling is the SDK's: the sampler the
    OTEL_TRACES_SAMPLER settings choose (by default: follow the caller's sampled flag, else
    sample) decides at the invocation span, and its hops follow it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        if protocol and protocol != "http/protobuf":
            log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported: spans go over http/protobuf", protocol)
        self._trace = trace
        self.sampler = TracerProvider(shutdown_on_exit=False).sampler
        self.shipper = SpanShipper()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Telemetry | None:
        env = os.environ if env is None else env
        if not export_wanted(env):
            return None
        telemetry = cls(env)
        log.info("OpenTelemetry: exporting invocation spans over OTLP/HTTP")
        return telemetry

    def _sampled(self, ctx: TraceContext, trace_id: int, name: str, attributes: dict[str, Any]) -> bool:
        t = self._trace
        parent = None
        if ctx.parent_id is not None:
            remote = t.SpanContext(
                trace_id, int(ctx.parent_id, 16), is_remote=True, trace_flags=t.TraceFlags(int(ctx.flags, 16))
            )
            parent = t.set_span_in_context(t.NonRecordingSpan(remote))
        result = self.sampler.should_sample(parent, trace_id, name, t.SpanKind.SERVER, attributes)
        return bool(result.decision.is_sampled())

    def invocation_span(self, ctx: TraceContext, name: str, attributes: dict[str, Any]) -> Span:
        trace_id = int(ctx.trace_id, 16)
        sampled = self._sampled(ctx, trace_id, name, attributes)
        parent = int(ctx.parent_id, 16) if ctx.parent_id is not None else 0
        return Span(trace_id, parent, True, name, SERVER, dict(attributes), sampled, self.shipper)

    def hop_span(self, parent: Span, name: str, attributes: dict[str, Any]) -> Span:
        return Span(parent.trace_id, parent.span_id, False, name, CLIENT, attributes, parent.sampled, self.shipper)

    def context_of(self, span: Span) -> tuple[str, str, str]:
        """(trace id, span id, flags) as hex, for the traceparent a container gets."""
        return f"{span.trace_id:032x}", f"{span.span_id:016x}", "01" if span.sampled else "00"

    def set_error(self, span: Span, message: str) -> None:
        span.error = message

    def shutdown(self) -> None:
        """Ships the spans still queued and waits for the exporter to send them (blocking: call it
        from a worker thread)."""
        self.shipper.shutdown()
