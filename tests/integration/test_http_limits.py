"""The daemon's HTTP limits against raw sockets and boto3: the connection cap, the head and body
timeouts, the keep-alive timeout and the body size limits. Each test runs its own daemon with the
limit under test lowered through the environment, as a user would set it."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from support import DaemonHandle, cleanup, make_daemon

# Waits are bounds on "eventually", never assertions about durations.
EVENTUALLY = 30.0


@pytest.fixture
def limited() -> Iterator[Callable[..., DaemonHandle]]:
    started: list[DaemonHandle] = []

    def start(**env: str) -> DaemonHandle:
        d = make_daemon(**env)
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        cleanup(d)


def connect(d: DaemonHandle) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", d.port), timeout=EVENTUALLY)
    s.settimeout(EVENTUALLY)
    return s


def ping_request() -> bytes:
    return b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before a response; got {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed inside a response body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def read_to_close(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def serves(d: DaemonHandle) -> bool:
    with connect(d) as s:
        s.sendall(ping_request())
        return read_response(s)[0] == 200


def rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


# connections -------------------------------------------------------------------------------------
def test_a_connection_beyond_the_cap_is_closed_and_the_others_keep_serving(limited) -> None:  # noqa: ANN001
    d = limited(INFERPIPE_MAX_CONNECTIONS="3", INFERPIPE_HEADER_TIMEOUT="600", INFERPIPE_KEEPALIVE_TIMEOUT="600")
    held = [connect(d) for _ in range(3)]
    for s in held:  # each is served, so each is surely counted, and stays open (keep-alive)
        s.sendall(ping_request())
        assert read_response(s)[0] == 200
    extra = connect(d)  # the kernel accepts it; the daemon closes it without a word
    assert read_to_close(extra) == b""
    extra.close()
    for s in held:
        s.sendall(ping_request())
        assert read_response(s)[0] == 200
    held.pop().close()  # a slot frees up: a new connection is served again
    deadline = time.monotonic() + EVENTUALLY
    while True:
        s = connect(d)
        s.sendall(ping_request())
        try:
            if read_response(s)[0] == 200:
                break
        except (AssertionError, ConnectionResetError):
            assert time.monotonic() < deadline, "a freed slot was never reused"
            time.sleep(0.1)
        finally:
            s.close()
    for s in held:
        s.close()
    assert "INFERPIPE_MAX_CONNECTIONS is 3" in (d.home / "daemon.log").read_text()


def test_a_client_trickling_its_headers_is_cut_off(limited) -> None:  # noqa: ANN001
    d = limited(INFERPIPE_HEADER_TIMEOUT="1", INFERPIPE_KEEPALIVE_TIMEOUT="600")
    s = connect(d)
    s.sendall(b"GET /ping HTTP/1.1\r\n")
    received = b""
    deadline = time.monotonic() + EVENTUALLY
    try:  # a header line every 0.2 s: activity must not extend the deadline
        for i in range(10_000):
            assert time.monotonic() < deadline, "the slow client was never cut off"
            s.sendall(b"X-Slow-%d: y\r\n" % i)
            s.settimeout(0.2)
            try:
                received = s.recv(65536)
                break  # closed (b"") or, wrongly, answered
            except TimeoutError:
                continue
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert received == b"", f"expected the connection closed without an answer, got {received!r}"
    s.close()
    assert serves(d)
    assert "request headers did not arrive within 1.0 s" in (d.home / "daemon.log").read_text()


def test_a_connection_that_never_sends_a_request_is_closed(limited) -> None:  # noqa: ANN001
    d = limited(INFERPIPE_HEADER_TIMEOUT="1", INFERPIPE_KEEPALIVE_TIMEOUT="600")
    with connect(d) as s:
        assert read_to_close(s) == b""


def test_idle_time_between_requests_is_not_a_slow_head(limited) -> None:  # noqa: ANN001
    d = limited(INFERPIPE_HEADER_TIMEOUT="1", INFERPIPE_KEEPALIVE_TIMEOUT="600")
    with connect(d) as s:
        s.sendall(ping_request())
        assert read_response(s)[0] == 200
        time.sleep(2.5)  # idle for longer than the head timeout, well within keep-alive
        s.sendall(ping_request())
        assert read_response(s)[0] == 200


def test_an_idle_kept_alive_connection_is_closed(limited) -> None:  # noqa: ANN001
    d = limited(INFERPIPE_KEEPALIVE_TIMEOUT="1", INFERPIPE_HEADER_TIMEOUT="600")
    with connect(d) as s:
        s.sendall(ping_request())
        assert read_response(s)[0] == 200
        assert read_to_close(s) == b""


# bodies ------------------------------------------------------------------------------------------
def test_half_sent_bodies_are_cut_off_and_their_memory_returned(limited) -> None:  # noqa: ANN001
    d = limited(INFERPIPE_BODY_TIMEOUT="2")
    assert d.proc is not None
    before = rss_mib(d.proc.pid)
    stalled = []
    for _ in range(16):  # each announces 6 MiB and sends 5 MB of it
        s = connect(d)
        s.sendall(
            b"POST /endpoints/any/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6291456\r\n\r\n"
            + b"x" * 5_000_000
        )
        stalled.append(s)
    held = rss_mib(d.proc.pid)
    answers = [read_to_close(s) for s in stalled]  # the daemon answers, then closes each
    for s in stalled:
        s.close()
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"x-amzn-ErrorType: RequestTimeoutException" in answer
        assert b"did not arrive within 2 s (INFERPIPE_BODY_TIMEOUT)" in answer
    assert serves(d)
    # What the stalled bodies held is given back (to the OS, not just to Python's allocator).
    assert held - before >= 40, f"the bodies never reached the daemon ({before} -> {held} MiB)"
    after = rss_mib(d.proc.pid)
    assert after - before < (held - before) / 2, f"RSS {before} -> {held} -> {after} MiB"


def test_a_control_plane_body_that_stalls_is_answered_408(limited) -> None:  # noqa: ANN001
    d = limited(INFERPIPE_BODY_TIMEOUT="1")
    with connect(d) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: SageMaker.ListModels\r\n"
            b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{"
        )
        status, _, body = read_response(s)
        assert status == 408
        assert json.loads(body)["__type"] == "RequestTimeoutException"
        assert read_to_close(s) == b""


def control_plane_head(length: int | None) -> bytes:
    size = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: SageMaker.CreateModel\r\n"
        f"Content-Type: application/x-amz-json-1.1\r\n{size}\r\n\r\n"
    ).encode()


def test_an_oversize_control_plane_body_is_refused_from_its_content_length(daemon: DaemonHandle) -> None:
    with connect(daemon) as s:
        s.sendall(control_plane_head(1024 * 1024 + 1))  # the head only: the answer cannot wait for the body
        status, headers, body = read_response(s)
    assert status == 413
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(body) == {
        "__type": "ValidationException",
        "message": "Request body of 1048577 bytes exceeds the control plane's limit of 1048576 bytes"
        " (INFERPIPE_CONTROL_PLANE_MAX_BODY).",
    }


def test_an_oversize_chunked_control_plane_body_is_refused_while_streaming(daemon: DaemonHandle) -> None:
    with connect(daemon) as s:
        s.sendall(control_plane_head(None))
        chunk = b"a" * 65536
        for _ in range(17):  # 1 MiB + 64 KiB, never terminated: the limit, not the end, answers
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, _, body = read_response(s)
    assert status == 413
    assert json.loads(body)["message"] == (
        "Request body exceeds the control plane's limit of 1048576 bytes (INFERPIPE_CONTROL_PLANE_MAX_BODY)."
    )


def test_boto3_sees_a_validation_exception_for_an_oversize_request_and_nothing_is_created(
    sm,
    daemon: DaemonHandle,  # noqa: ANN001
) -> None:
    with pytest.raises(ClientError) as err:
        sm.create_model(
            ModelName="too-big-to-read",
            Containers=[{"Image": "x:1", "Environment": {"BIG": "v" * (2 * 1024 * 1024)}}],
        )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "exceeds the control plane's limit of 1048576 bytes" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="Could not find model"):
        sm.describe_model(ModelName="too-big-to-read")
    assert serves(daemon)


def test_the_control_plane_limit_is_a_setting(limited) -> None:  # noqa: ANN001
    d = limited(INFERPIPE_CONTROL_PLANE_MAX_BODY="100000")
    sm = d.client("sagemaker")
    with pytest.raises(ClientError, match="limit of 100000 bytes"):
        sm.create_model(ModelName="m", Containers=[{"Image": "x:1", "Environment": {"E": "v" * 100_000}}])
    sm.create_model(ModelName="m", Containers=[{"Image": "x:1", "Environment": {"E": "v" * 1000}}])


def test_an_oversize_runtime_body_is_refused_from_its_content_length(daemon: DaemonHandle) -> None:
    with connect(daemon) as s:
        s.sendall(b"POST /endpoints/any/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6291457\r\n\r\n")
        status, headers, body = read_response(s)
    assert status == 400
    assert headers["x-amzn-errortype"] == "ValidationError"
    assert json.loads(body)["Message"] == "Request payload exceeds the maximum of 6291456 bytes (6 MB)."


def test_a_body_at_the_runtime_limit_is_read(rt) -> None:  # noqa: ANN001
    # 6 MiB exactly passes the HTTP limits and reaches the router (no such endpoint here).
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"x" * 6291456)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "not found" in err.value.response["Error"]["Message"]


def test_a_bad_limit_setting_stops_the_daemon_with_one_line() -> None:
    d = make_daemon(INFERPIPE_MAX_CONNECTIONS="lots")
    try:
        with pytest.raises(RuntimeError, match="INFERPIPE_MAX_CONNECTIONS='lots' is not valid"):
            d.start()
        assert d.proc is not None and d.proc.wait(10) == 2
    finally:
        cleanup(d)
