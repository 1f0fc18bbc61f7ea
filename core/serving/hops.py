"""What the router does at each hop of one request, besides sending it: carry the trace context
into the container's headers and, when asked for, record the step trace and the spans."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inferpipe.core.containers.chain import Body
from inferpipe.core.containers.runtime import ContainerHandle
from inferpipe.core.serving.step_trace import StepTrace
from inferpipe.core.serving.telemetry import Telemetry
from inferpipe.core.serving.trace_context import TraceContext, new_span_id

TRACEPARENT = "traceparent"


class HopRecorder:
    """One attempt of one request on one instance (a chain.HopObserver). With neither a step trace
    nor spans asked for, all it does per hop is one header."""

    def __init__(
        self,
        ctx: TraceContext,
        *,
        endpoint: str,
        variant: str,
        instance: str,
        telemetry: Telemetry | None = None,
        step: StepTrace | None = None,
        images: Mapping[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.trace_id = ctx.trace_id
        self.telemetry = telemetry
        self.step = step
        self.images = images or {}
        self.attributes: dict[str, Any] = {
            "inferpipe.endpoint": endpoint,
            "inferpipe.variant": variant,
            "inferpipe.instance": instance,
        }
        self.span: Any = None
        self._hop: Any = None
        if telemetry is not None:
            self.span = telemetry.invocation_span(ctx, f"InvokeEndpoint {endpoint}", self.attributes)
            self.trace_id = telemetry.context_of(self.span)[0]
        if step is not None:
            step.trace_id = self.trace_id

    def sending(self, cont: ContainerHandle, headers: dict[str, str], body: Body) -> None:
        if self.telemetry is None:
            headers[TRACEPARENT] = self.ctx.traceparent(new_span_id())
        else:
            # The hop carries what differs per container; endpoint, variant and instance are on its
            # parent (each attribute costs the SDK a validation on the request path).
            attrs = {
                "inferpipe.container": cont.hostname,
                "inferpipe.container.position": cont.index,
                "inferpipe.request.bytes": len(body),
            }
            self._hop = self.telemetry.hop_span(self.span, f"container {cont.hostname}", attrs)
            trace_id, span_id, flags = self.telemetry.context_of(self._hop)
            headers[TRACEPARENT] = f"00-{trace_id}-{span_id}-{flags}"
        if self.step is not None:
            self.step.sending(cont.index, cont.hostname, self.images.get(cont.hostname, ""), headers, body)

    def answered(
        self, cont: ContainerHandle, status: int, sent: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> None:
        if self._hop is not None:
            self._hop.set_attributes({"http.response.status_code": status, "inferpipe.response.bytes": len(body)})
            if status >= 300:
                self.telemetry.set_error(self._hop, f"{cont.hostname} answered {status}")  # type: ignore[union-attr]
            self._hop.end()
            self._hop = None
        if self.step is not None:
            self.step.answered(status, sent, headers, body)

    def failed(self, hostname: str, message: str) -> None:
        """The chain stopped at this container (an error answer, a timeout, a broken connection)."""
        if self.telemetry is not None:
            if self._hop is not None:  # no answer came: the hop ends with the error
                self.telemetry.set_error(self._hop, message)
                self._hop.end()
                self._hop = None
            self.telemetry.set_error(self.span, f"stopped at {hostname}: {message}")
        if self.step is not None:
            self.step.failed(hostname, message)

    def finish(self, status: int) -> None:
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", status)
            self.span.end()
