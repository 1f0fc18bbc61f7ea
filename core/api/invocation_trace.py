"""Inferpipe.GetInvocationTrace: the step trace of a request sent with X-Inferpipe-Trace: 1."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.validation import Checker
from inferpipe.core.errors import ValidationException
from inferpipe.core.serving.step_trace import TraceBook


def get_invocation_trace(book: TraceBook, req: dict[str, Any]) -> dict[str, Any]:
    c = Checker()
    if c.required(req, "TraceId", "traceId"):
        c.string(req["TraceId"], "traceId", max_len=64)
    c.raise_if_any()
    trace = book.get(req["TraceId"])
    if trace is None:
        raise ValidationException(
            f"No invocation trace {req['TraceId']}: only the last {book.keep} traced requests are kept"
            " (INFERPIPE_TRACE_KEEP). Send the request again with the header X-Inferpipe-Trace: 1."
        )
    return trace
