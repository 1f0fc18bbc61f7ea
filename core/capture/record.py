"""One captured invocation and the JSON line SageMaker's data capture writes for it."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field

EVENT_VERSION = "0"


@dataclass(frozen=True)
class Encodings:
    """Which observed content types are written as text (CSV, JSON); every other one as BASE64, as
    SageMaker does when CaptureContentTypeHeader names no type."""

    csv: frozenset[str] = frozenset()
    json: frozenset[str] = frozenset()

    def of(self, content_type: str | None) -> str:
        media = media_type(content_type)
        if media in self.csv:
            return "CSV"
        if media in self.json:
            return "JSON"
        return "BASE64"


def media_type(content_type: str | None) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv``: parameters never change how a body is encoded."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class CaptureEvent:
    """What the request path hands over: references to the bodies it already holds, nothing copied
    or encoded (that is the writer's work, off the request path)."""

    endpoint: str
    variant: str
    input_body: bytes | None  # None when CaptureOptions leaves the input out
    input_type: str | None
    output_body: bytes | None
    output_type: str | None
    inference_id: str | None = None
    time: float = field(default_factory=time.time)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def size(self) -> int:
        """The bytes this event holds while it waits, for the writer's memory bound."""
        return len(self.input_body or b"") + len(self.output_body or b"")


def _payload(body: bytes, content_type: str | None, mode: str, encodings: Encodings) -> dict[str, str]:
    encoding = encodings.of(content_type)
    if encoding != "BASE64":
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:  # declared text but is not: kept intact rather than mangled
            encoding = "BASE64"
    if encoding == "BASE64":
        data = base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type or "", "mode": mode, "data": data, "encoding": encoding}


def inference_time(t: float) -> str:
    """UTC, to the millisecond, ending in Z (the form Model Monitor parses)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def capture_line(event: CaptureEvent, encodings: Encodings) -> bytes:
    capture: dict[str, dict[str, str]] = {}
    if event.input_body is not None:
        capture["endpointInput"] = _payload(event.input_body, event.input_type, "INPUT", encodings)
    if event.output_body is not None:
        capture["endpointOutput"] = _payload(event.output_body, event.output_type, "OUTPUT", encodings)
    metadata = {"eventId": event.event_id, "inferenceTime": inference_time(event.time)}
    if event.inference_id:
        metadata["inferenceId"] = event.inference_id
    line = {"captureData": capture, "eventMetadata": metadata, "eventVersion": EVENT_VERSION}
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
