"""The OTLP exporter process: run by the daemon as ``python -m inferpipe.core.serving.span_export``
when OTLP export is on (serving/telemetry.py starts it). It reads batches of span records on its
standard input, makes them the SDK's spans and hands them to the SDK's BatchSpanProcessor and
OTLPSpanExporter, so batching, retries, compression, headers and every ``OTEL_EXPORTER_OTLP_*``
setting are the SDK's own. End of input flushes what is queued and exits.

A span record is a tuple of plain values (marshal carries it; the pipe is this process's own
parent): (trace_id, span_id, parent_id or 0, parent_is_remote, name, kind, start_ns, end_ns,
attributes, error message or None)."""

from __future__ import annotations

import marshal
import sys
from collections.abc import Mapping
from typing import IO, Any

SpanRecord = tuple[int, int, int, bool, str, int, int, int, dict[str, Any], "str | None"]


def resource_attributes(env: Mapping[str, str]) -> dict[str, str]:
    """The environment's OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over this default."""
    return {} if env.get("OTEL_SERVICE_NAME") else {"service.name": "inferpipe"}


class SpanSink:
    """Span records in, the SDK's ReadableSpans out to a span processor."""

    def __init__(self, processor: Any, resource: Any) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self._processor = processor
        self._resource = resource
        self._trace = trace
        self._readable = ReadableSpan
        self._scope = InstrumentationScope("inferpipe")
        self._sampled = trace.TraceFlags(trace.TraceFlags.SAMPLED)
        self._ok = trace.Status(trace.StatusCode.UNSET)

    def span(self, record: SpanRecord) -> Any:
        t = self._trace
        trace_id, span_id, parent_id, remote, name, kind, start, end, attributes, error = record
        parent = t.SpanContext(trace_id, parent_id, remote, self._sampled) if parent_id else None
        return self._readable(
            name,
            context=t.SpanContext(trace_id, span_id, False, self._sampled),
            parent=parent,
            resource=self._resource,
            attributes=attributes,
            kind=t.SpanKind(kind),
            status=self._ok if error is None else t.Status(t.StatusCode.ERROR, error),
            start_time=start,
            end_time=end,
            instrumentation_scope=self._scope,
        )

    def take(self, records: list[SpanRecord]) -> None:
        for record in records:
            self._processor.on_end(self.span(record))


def serve(stream: IO[bytes], sink: SpanSink) -> None:
    """Read batches until the daemon closes the pipe (or dies)."""
    while True:
        try:
            batch = marshal.load(stream)
        except (EOFError, ValueError, TypeError):  # the pipe closed, perhaps mid-batch
            return
        sink.take(batch)


def main() -> None:
    import logging
    import os

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # the daemon's log gets the SDK's warnings (a collector that is down), marked as this process's
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s otlp-exporter %(name)s: %(message)s")
    processor = BatchSpanProcessor(OTLPSpanExporter())
    try:
        serve(sys.stdin.buffer, SpanSink(processor, Resource.create(resource_attributes(os.environ))))
    finally:
        processor.shutdown()


if __name__ == "__main__":
    main()
