"""A tiny, stdlib-only serving framework implementing SageMaker's custom inference container contract.

Each container of the wine pipeline is ``python3 /opt/program/serve.py serve``; its ``serve.py`` gives
:func:`main` a loader, which turns the model directory (``/opt/ml/model``, the extracted
``ModelDataUrl`` tarball) into a handler ``handler(body, content_type, accept) -> (body, content_type)``.

Contract implemented here:

- listen on ``0.0.0.0:$SAGEMAKER_BIND_TO_PORT`` (default 8080) at once, load the model in the
  background; ``GET /ping`` answers 503 while loading and 200 with an empty body once loaded (a
  model that fails to load makes the process exit 1, so the failure shows quickly in the logs);
- ``POST /invocations``: the handler's answer with its own Content-Type; :class:`UnsupportedMediaType`
  becomes 415, :class:`NotAcceptable` 406, :class:`BadRequest` 400, any other exception 500, each
  with a plain-text message; ``X-Amzn-SageMaker-Custom-Attributes`` is echoed back;
- HTTP/1.1 keep-alive with exact Content-Length and TCP_NODELAY (without it every kept-alive call
  waits ~40 ms for the peer's delayed ACK), one log line per request on stdout;
- SIGTERM (and SIGINT) shut the server down cleanly.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Handler = Callable[[bytes, str, str | None], tuple[bytes, str]]
Loader = Callable[[Path], Handler]

MODEL_DIR = Path(os.environ.get("SAGEMAKER_MODEL_DIR", "/opt/ml/model"))
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
MAX_BODY = 100 * 1024 * 1024


class ServingError(Exception):
    """An error with an HTTP status, reported to the caller as plain text."""

    status = 500


class BadRequest(ServingError):
    status = 400


class NotAcceptable(ServingError):
    status = 406


class UnsupportedMediaType(ServingError):
    status = 415


def media_type(value: str | None) -> str:
    """``'text/csv; charset=utf-8'`` -> ``'text/csv'``; empty for a missing header."""
    return (value or "").split(";", 1)[0].strip().lower()


def wanted(accept: str | None, default: str, supported: tuple[str, ...]) -> str:
    """Pick the response media type for an Accept header.

    A missing Accept or ``*/*`` means ``default``. Otherwise the first supported type listed wins
    (``type/*`` wildcards are honoured); none supported raises :class:`NotAcceptable`.
    """
    if not accept or not accept.strip():
        return default
    for part in accept.split(","):
        mt = media_type(part)
        if mt in ("", "*/*", "*"):
            return default
        if mt in supported:
            return mt
        if mt.endswith("/*"):
            prefix = mt[:-1]
            if default.startswith(prefix):
                return default
            for s in supported:
                if s.startswith(prefix):
                    return s
    raise NotAcceptable(f"cannot produce Accept: {accept!r}; supported: {', '.join(supported)}")


def parse_rows(body: bytes, content_type: str, width: int | None = None) -> list[list[float]]:
    """Decode a matrix of floats from ``text/csv`` (one row per line, no header), ``application/json``
    (``{"instances": [[...], ...]}``, or a bare list of rows, or one flat row) or
    ``application/jsonlines`` (one row per line, as a list or under ``"features"``).

    Raises :class:`UnsupportedMediaType` for other types and :class:`BadRequest` for bad input or a
    row whose width is not ``width``.
    """
    mt = media_type(content_type) or "text/csv"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not UTF-8: {exc}") from None
    rows: list[list[float]] = []
    if mt == "text/csv":
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append([float(cell) for cell in line.split(",")])
            except ValueError as exc:
                raise BadRequest(f"line {lineno}: {exc}") from None
    elif mt == "application/json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise BadRequest(f"invalid JSON: {exc}") from None
        instances = doc.get("instances") if isinstance(doc, dict) else doc
        if not isinstance(instances, list):
            raise BadRequest('expected {"instances": [[number, ...], ...]}')
        if instances and not isinstance(instances[0], list):
            instances = [instances]
        for i, row in enumerate(instances):
            if not isinstance(row, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in row
            ):
                raise BadRequest(f"instance {i} is not a list of numbers")
            rows.append([float(v) for v in row])
    elif mt == "application/jsonlines":
        # one record per line: a list of numbers, or an object holding one under "features"
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError as exc:
                raise BadRequest(f"line {lineno}: invalid JSON: {exc}") from None
            row = doc.get("features") if isinstance(doc, dict) else doc
            if not isinstance(row, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in row
            ):
                raise BadRequest(f'line {lineno}: expected [number, ...] or {{"features": [number, ...]}}')
            rows.append([float(v) for v in row])
    else:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {content_type!r}: send text/csv, application/json or application/jsonlines"
        )
    if not rows:
        raise BadRequest("no rows in the request body")
    for i, row in enumerate(rows, 1):
        if width is not None and len(row) != width:
            raise BadRequest(f"row {i} has {len(row)} values, expected {width}")
        if not all(math.isfinite(v) for v in row):
            raise BadRequest(f"row {i} has a NaN or infinite value")
    return rows


def to_csv(rows: list[list[float]]) -> bytes:
    """Rows of floats as CSV, each value at full (round-trip) precision."""
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


def log(message: str) -> None:
    sys.stdout.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")
    sys.stdout.flush()


class _State:
    def __init__(self, name: str) -> None:
        self.name = name
        self.handler: Handler | None = None
        self.ready = threading.Event()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms stalls on kept-alive connections
    server_version = "inferpipe-sample"
    state: _State  # set on the subclass made by make_server()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Quiet http.server's default stderr logging; :meth:`_send` logs one line per request."""

    def _send(
        self, status: int, body: bytes, content_type: str | None, started: float, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        elapsed_ms = (time.perf_counter() - started) * 1000
        log(f"{self.state.name} {self.command} {self.path} {status} {len(body)}B {elapsed_ms:.2f}ms")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise BadRequest(f"bad Content-Length {length}")
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        if path == "/ping":
            if self.state.ready.is_set():
                self._send(200, b"", None, started)
            else:
                self._send(503, b"model is loading\n", "text/plain", started)
        else:
            self._send(404, f"no route GET {path}\n".encode(), "text/plain", started)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        extra: dict[str, str] = {}
        attributes = self.headers.get(CUSTOM_ATTRIBUTES)
        if attributes is not None:
            extra[CUSTOM_ATTRIBUTES] = attributes
        try:
            body = self._read_body()
        except (ValueError, BadRequest) as exc:
            self.close_connection = True
            self._send(400, f"{exc}\n".encode(), "text/plain", started, extra)
            return
        if path != "/invocations":
            self._send(404, f"no route POST {path}\n".encode(), "text/plain", started, extra)
            return
        handler = self.state.handler
        if handler is None:
            self._send(503, b"model is loading\n", "text/plain", started, extra)
            return
        content_type = self.headers.get("Content-Type") or ""
        accept = self.headers.get("Accept")
        try:
            out, out_type = handler(body, content_type, accept)
        except ServingError as exc:
            self._send(exc.status, f"{exc}\n".encode(), "text/plain", started, extra)
            return
        except Exception as exc:  # the contract: any failure is a 500 carrying its message
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            message = f"{type(exc).__name__}: {exc}\n".encode()
            self._send(500, message, "text/plain", started, extra)
            return
        self._send(200, out, out_type, started, extra)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(name: str, port: int, host: str = "0.0.0.0") -> tuple[_Server, _State]:
    state = _State(name)
    handler_class = type("RequestHandler", (_RequestHandler,), {"state": state})
    return _Server((host, port), handler_class), state


def main(name: str, loader: Loader, argv: list[str] | None = None) -> int:
    """Entry point of a container: ``serve.py serve`` (SageMaker passes ``serve``)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] != "serve":
        sys.stderr.write(f"usage: serve.py [serve]  (got {args[0]!r}; only 'serve' is supported)\n")
        return 2
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server, state = make_server(name, port)
    failed = threading.Event()

    def load() -> None:
        started = time.perf_counter()
        try:
            state.handler = loader(MODEL_DIR)
        except Exception:
            log(f"{name}: failed to load the model from {MODEL_DIR}:")
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            failed.set()
            threading.Thread(target=server.shutdown, daemon=True).start()
            return
        state.ready.set()
        log(f"{name}: model loaded from {MODEL_DIR} in {(time.perf_counter() - started) * 1000:.0f} ms")

    def stop(signum: int, _frame: object) -> None:
        log(f"{name}: {signal.Signals(signum).name} received, shutting down")
        # shutdown() waits for serve_forever() to return: call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"{name}: listening on 0.0.0.0:{port}")
    threading.Thread(target=load, name="load-model", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    log(f"{name}: stopped")
    return 1 if failed.is_set() else 0
