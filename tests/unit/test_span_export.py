"""The OTLP export path out of the request path: span records become the SDK's spans with their
parent links, status and attributes (span_export.py), and the daemon's shipper never fails a
request when the exporter process is gone (telemetry.py)."""

from __future__ import annotations

import io
import marshal
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from inferpipe.core.serving import trace_context
from inferpipe.core.serving.span_export import SpanSink, serve
from inferpipe.core.serving.telemetry import CLIENT, SERVER, Span, SpanShipper

TRACE, CALLER, ROOT, HOP = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, 0x1111, 0x2222


def test_records_become_sdk_spans_with_links_status_and_attributes() -> None:
    exporter = InMemorySpanExporter()
    sink = SpanSink(SimpleSpanProcessor(exporter), Resource.create({"service.name": "t"}))
    records = [
        (TRACE, ROOT, CALLER, True, "InvokeEndpoint e", SERVER, 10, 50, {"inferpipe.endpoint": "e"}, None),
        (TRACE, HOP, ROOT, False, "container c", CLIENT, 20, 40, {"http.response.status_code": 500}, "c answered 500"),
    ]
    stream = io.BytesIO(marshal.dumps(records[:1]) + marshal.dumps(records[1:]) + marshal.dumps([])[:2])
    serve(stream, sink)  # two whole batches, then a torn one: the end of input
    root, hop = exporter.get_finished_spans()
    assert (root.context.trace_id, root.context.span_id) == (TRACE, ROOT)
    assert root.parent is not None and root.parent.span_id == CALLER and root.parent.is_remote
    assert root.kind is SpanKind.SERVER and root.status.status_code is StatusCode.UNSET
    assert root.attributes == {"inferpipe.endpoint": "e"} and (root.start_time, root.end_time) == (10, 50)
    assert hop.parent is not None and hop.parent.span_id == ROOT and not hop.parent.is_remote
    assert hop.kind is SpanKind.CLIENT
    assert hop.status.status_code is StatusCode.ERROR and hop.status.description == "c answered 500"
    assert root.resource.attributes["service.name"] == "t"


def test_a_root_span_has_no_parent() -> None:
    exporter = InMemorySpanExporter()
    sink = SpanSink(SimpleSpanProcessor(exporter), Resource.create({}))
    sink.take([(TRACE, ROOT, 0, True, "InvokeEndpoint e", SERVER, 1, 2, {}, None)])
    [span] = exporter.get_finished_spans()
    assert span.parent is None


def test_a_dead_exporter_process_drops_spans_and_fails_nothing() -> None:
    # an "exporter" that reads a few bytes and exits: the pipe breaks under the shipper
    shipper = SpanShipper(flush_seconds=0.01, command=[sys.executable, "-c", "import sys; sys.stdin.buffer.read(1)"])
    ctx = trace_context.start(None)
    for _ in range(2000):
        span = Span(int(ctx.trace_id, 16), 0, True, "InvokeEndpoint e", SERVER, {"k": "v" * 200}, True, shipper)
        span.end()
    shipper.shutdown(timeout=10)
    assert shipper._pipe is None  # noticed, and from then on spans are dropped, not queued
    span.end()
    assert shipper.dropped >= 1


def test_unsampled_spans_are_never_shipped() -> None:
    shipper = SpanShipper(command=[sys.executable, "-c", "import sys; sys.stdin.buffer.read()"])
    try:
        Span(TRACE, 0, True, "InvokeEndpoint e", SERVER, {}, False, shipper).end()
        assert not shipper._queue and shipper.dropped == 0
    finally:
        shipper.shutdown(timeout=10)
