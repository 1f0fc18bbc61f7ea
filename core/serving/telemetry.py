"""OpenTelemetry spans for invocations: one per request, one child per container hop, exported
over OTLP/HTTP when the standard OTEL_* environment asks for it. Off by default, and then the
SDK is never imported: the daemon's start-up and request path pay nothing."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from inferpipe.core.serving.trace_context import TraceContext

log = logging.getLogger("inferpipe.telemetry")

_OFF = ("", "none")


def export_wanted(env: Mapping[str, str]) -> bool:
    """OTLP export is on when an OTLP endpoint is set, the SDK is not disabled and the traces
    exporter is not set to something else."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter in _OFF or "otlp" not in exporter.split(","):
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class Telemetry:
    """The tracer provider, with a batch processor: spans leave in a background thread, in
    batches, so a request never waits for the collector (or for one that is down)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        if protocol and protocol != "http/protobuf":
            log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported: spans go over http/protobuf", protocol)
        # The environment's OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over this default.
        attrs = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": "inferpipe"}
        self.provider = TracerProvider(resource=Resource.create(attrs))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("inferpipe")
        self._trace = trace
        self._server = trace.SpanKind.SERVER
        self._client = trace.SpanKind.CLIENT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Telemetry | None:
        env = os.environ if env is None else env
        if not export_wanted(env):
            return None
        telemetry = cls(env)
        log.info("OpenTelemetry: exporting invocation spans over OTLP/HTTP")
        return telemetry

    def invocation_span(self, ctx: TraceContext, name: str, attributes: dict[str, Any]) -> Any:
        t = self._trace
        parent = None
        if ctx.parent_id is not None:
            remote = t.SpanContext(
                int(ctx.trace_id, 16),
                int(ctx.parent_id, 16),
                is_remote=True,
                trace_flags=t.TraceFlags(int(ctx.flags, 16)),
            )
            parent = t.set_span_in_context(t.NonRecordingSpan(remote))
        return self.tracer.start_span(name, context=parent, kind=self._server, attributes=attributes)

    def hop_span(self, parent: Any, name: str, attributes: dict[str, Any]) -> Any:
        ctx = self._trace.set_span_in_context(parent)
        return self.tracer.start_span(name, context=ctx, kind=self._client, attributes=attributes)

    def context_of(self, span: Any) -> tuple[str, str, str]:
        """(trace id, span id, flags) as hex, for the traceparent a container gets."""
        sc = span.get_span_context()
        return f"{sc.trace_id:032x}", f"{sc.span_id:016x}", f"{int(sc.trace_flags):02x}"

    def set_error(self, span: Any, message: str) -> None:
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, message))

    def shutdown(self) -> None:
        """Flushes the spans still queued (blocking: call it from a worker thread)."""
        self.provider.shutdown()
