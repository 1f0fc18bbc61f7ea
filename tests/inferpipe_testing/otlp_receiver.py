"""An OTLP/HTTP traces receiver in the test process: keeps every POST /v1/traces payload and
decodes them with opentelemetry-proto, the protocol's own generated classes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    status_code: int
    attributes: dict[str, Any]


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


class OtlpReceiver:
    """keep=False counts requests and bytes only (the bench's receiver must not grow)."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.requests = 0
        self.bytes = 0
        self.payloads: list[bytes] = []
        self.content_types: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests += 1
                    receiver.bytes += len(body)
                    if receiver.keep:
                        receiver.payloads.append(body)
                        receiver.content_types.append(self.headers.get("Content-Type", ""))
                # an empty ExportTraceServiceResponse: full success
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> list[ReceivedSpan]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        with self._lock:
            payloads = list(self.payloads)
        out = []
        for raw in payloads:
            req = ExportTraceServiceRequest()
            req.ParseFromString(raw)
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    out.extend(
                        ReceivedSpan(
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            s.kind,
                            s.status.code,
                            {a.key: _value(a.value) for a in s.attributes},
                        )
                        for s in ss.spans
                    )
        return out

    def wait_for(self, count: int, timeout: float = 20.0) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.1)


def iter_trace(spans: list[ReceivedSpan], trace_id: str) -> Iterator[ReceivedSpan]:
    return (s for s in spans if s.trace_id == trace_id)
