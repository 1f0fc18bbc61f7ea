"""The step-by-step trace of one request (`invoke --trace`, header X-Inferpipe-Trace: 1): what each
container received and answered, recorded only when asked for, kept a short while for the caller
to fetch (Inferpipe.GetInvocationTrace)."""

from __future__ import annotations

import base64
import codecs
import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PREVIEW_BYTES = 1024
DEFAULT_KEEP = 100


def body_view(body: bytes | memoryview, preview_bytes: int, content_type: str | None) -> dict[str, Any]:
    """Size, digest and a bounded preview of exactly these bytes: text when they are UTF-8 (a
    multi-byte character cut by the bound is left out), base64 otherwise."""
    head = body[:preview_bytes]
    view: dict[str, Any] = {
        "ContentType": content_type,
        "Size": len(body),
        "Sha256": hashlib.sha256(body).hexdigest(),
        "Truncated": len(body) > len(head),
    }
    try:
        # final=False: a character the bound cut in two is not a decoding error
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=len(body) == len(head))
        view["Preview"], view["PreviewEncoding"] = text, "utf-8"
    except UnicodeDecodeError:
        view["Preview"], view["PreviewEncoding"] = base64.b64encode(head).decode(), "base64"
    return view


@dataclass
class StepTrace:
    endpoint: str
    variant: str
    instance: str
    mode: str
    trace_id: str
    inference_id: str | None
    preview_bytes: int
    hops: list[dict[str, Any]] = field(default_factory=list)
    stopped_at: str | None = None
    error: str | None = None
    _started: float = 0.0

    def sending(
        self, position: int, hostname: str, image: str, headers: Mapping[str, str], body: bytes | memoryview
    ) -> None:
        self._started = time.perf_counter()
        self.hops.append(
            {
                "Position": position,
                "ContainerHostname": hostname,
                "Image": image,
                "InstanceId": self.instance,
                "Request": {
                    "Headers": dict(headers),
                    **body_view(body, self.preview_bytes, headers.get("Content-Type")),
                },
            }
        )

    def answered(self, status: int, sent: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> None:
        hop = self.hops[-1]
        hop["LatencyMs"] = round((time.perf_counter() - self._started) * 1000, 3)
        hop["Request"]["Headers"] = dict(sent)
        hop["Response"] = {
            "Status": status,
            "Headers": dict(headers),
            **body_view(body, self.preview_bytes, headers.get("Content-Type")),
        }

    def failed(self, hostname: str, message: str) -> None:
        self.stopped_at, self.error = hostname, message
        for hop in self.hops:
            if hop["ContainerHostname"] == hostname:
                hop["Error"] = message
                hop.setdefault("LatencyMs", round((time.perf_counter() - self._started) * 1000, 3))

    def to_json(self) -> dict[str, Any]:
        return {
            "EndpointName": self.endpoint,
            "VariantName": self.variant,
            "InstanceId": self.instance,
            "InvocationMode": self.mode,
            "TraceId": self.trace_id,
            "InferenceId": self.inference_id,
            "Containers": self.hops,
            "StoppedAt": self.stopped_at,
            "Error": self.error,
        }


class TraceBook:
    """The last `keep` traces by request id: a caller fetches its own right after its request."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self.keep = keep
        self._traces: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def put(self, request_id: str, trace: dict[str, Any]) -> None:
        self._traces[request_id] = trace
        while len(self._traces) > self.keep:
            self._traces.popitem(last=False)

    def get(self, request_id: str) -> dict[str, Any] | None:
        return self._traces.get(request_id)
