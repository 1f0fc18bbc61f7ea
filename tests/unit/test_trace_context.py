"""traceparent parsing, the step trace's body views, and OpenTelemetry staying off (and unimported)
unless the OTEL_* environment asks for export."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys

import pytest

from inferpipe.core.serving.step_trace import TraceBook, body_view
from inferpipe.core.serving.telemetry import export_wanted
from inferpipe.core.serving.trace_context import parse_traceparent, start

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_continued() -> None:
    ctx = start(GOOD)
    assert (ctx.trace_id, ctx.parent_id, ctx.flags) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert ctx.traceparent("1111111111111111") == "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
    # a later version may append fields
    assert parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") is not None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        GOOD + "-extra",  # version 00 has exactly four fields
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(value: str | None) -> None:
    assert parse_traceparent(value) is None
    ctx = start(value)
    assert ctx.parent_id is None and len(ctx.trace_id) == 32 and int(ctx.trace_id, 16) and ctx.flags == "01"
    assert start(value).trace_id != ctx.trace_id


def test_body_view_shows_the_exact_bytes_bounded() -> None:
    text = "é" * 10  # 20 bytes of UTF-8
    view = body_view(text.encode(), 5, "text/plain")
    # the bound cuts the third "é" in two: it is left out rather than shown as garbage
    assert view["Preview"] == "éé" and view["PreviewEncoding"] == "utf-8" and view["Truncated"] is True
    assert view["Size"] == 20 and view["Sha256"] == hashlib.sha256(text.encode()).hexdigest()
    binary = bytes([0xFF, 0x00, 0x80, 0x81])
    view = body_view(binary, 1024, "application/octet-stream")
    assert view["PreviewEncoding"] == "base64" and base64.b64decode(view["Preview"]) == binary
    assert view["Truncated"] is False
    assert body_view(b"", 16, None)["Preview"] == ""
    whole_bad = body_view(b"ok\xff", 1024, None)  # invalid at the very end of a complete body
    assert whole_bad["PreviewEncoding"] == "base64"


def test_trace_book_keeps_the_newest() -> None:
    book = TraceBook(keep=2)
    for key in ("a", "b", "c"):
        book.put(key, {"k": key})
    assert book.get("a") is None and book.get("b") == {"k": "b"} and book.get("c") == {"k": "c"}


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "console"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_SERVICE_NAME": "x"}, False),
    ],
)
def test_export_only_when_the_otel_environment_asks(env: dict[str, str], wanted: bool) -> None:
    assert export_wanted(env) is wanted


def test_the_daemon_does_not_import_opentelemetry_when_export_is_off() -> None:
    code = (
        "import sys\n"
        "from inferpipe.core import daemon\n"
        "from inferpipe.core.serving.router import Router\n"
        "from inferpipe.core.serving.metrics import Metrics\n"
        "from inferpipe.core.config import Settings\n"
        "import pathlib\n"
        "r = Router(Settings(home=pathlib.Path('/nonexistent')), Metrics(), lambda n: None, lambda f, i: None)\n"
        "assert r.telemetry is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
