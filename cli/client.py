"""The API client the CLI uses: SageMaker JSON 1.1 calls over httpx, signed (SigV4) with the
home's credentials, and the daemon's lifecycle (start it detached when none answers, stop it
gracefully)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from inferpipe.cli import global_options, signing
from inferpipe.core import credentials, daemon_log
from inferpipe.core.config import ConfigError, Settings
from inferpipe.core.daemon_identity import DAEMON_MODULE, DaemonIdentity
from inferpipe.core.home import HomeProblem, ensure_home, open_private

__all__ = [
    "ApiClient",
    "ApiError",
    "ConfigError",
    "DaemonNotVerified",
    "DaemonStartFailed",
    "DaemonUnavailable",
    "HomeProblem",
    "InvokeResult",
    "start_daemon",
    "stop_daemon",
]


@dataclass
class ApiError(Exception):
    code: str
    message: str
    operation: str
    status: int = 400
    fields: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"An error occurred ({self.code}) when calling the {self.operation} operation: {self.message}"


class DaemonUnavailable(Exception):
    pass


class DaemonStartFailed(DaemonUnavailable):
    """The daemon exited while starting; the message carries the reason it logged."""


class DaemonNotVerified(Exception):
    """`daemon stop` found no daemon it could verify as this home's, and stopped nothing."""


@dataclass
class InvokeResult:
    body: bytes
    content_type: str | None
    variant: str | None
    custom_attributes: str | None
    trace_id: str | None = None  # X-Inferpipe-Trace-Id: a step trace to fetch (invoke --trace)


class SigV4(httpx.Auth):
    """Signs every request with the home's credentials (or the AWS environment variables), looked
    up again until found: the daemon this client is about to start writes them when it starts."""

    requires_request_body = True

    def __init__(self, home: Path) -> None:
        self.home = home
        self._creds: credentials.Credentials | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._creds is None:
            self._creds = global_options.signing_credentials(self.home, os.environ)
        if self._creds is not None:  # none at all: send it unsigned and let the daemon say why
            request.headers.update(
                signing.sign(request.method, str(request.url), request.headers, request.content, self._creds)
            )
        yield request


class ApiClient:
    def __init__(self, url: str, timeout: float = 75.0, home: Path | None = None) -> None:
        self.url = url.rstrip("/")
        opts = global_options.GLOBALS
        self._http = httpx.Client(
            base_url=self.url,
            # --cli-read-timeout / --cli-connect-timeout (0: no timeout), as the AWS CLI has them
            timeout=httpx.Timeout(
                opts.read_timeout if "read" in opts.timeouts_given else timeout,
                connect=opts.connect_timeout if "connect" in opts.timeouts_given else timeout,
            ),
            verify=opts.verify_ssl,
            auth=SigV4(home or Settings.from_env().home),
            event_hooks={"request": [_debug_request], "response": [_debug_response]} if opts.debug else None,
        )
        self.last_operation: str | None = None  # titles an AWS CLI table, as the AWS CLI titles it

    def close(self) -> None:
        self._http.close()

    def call(self, operation: str, body: dict[str, Any] | None = None, prefix: str = "SageMaker") -> dict[str, Any]:
        self.last_operation = operation
        try:
            resp = self._http.post(
                "/",
                content=json.dumps(body or {}),
                headers={"X-Amz-Target": f"{prefix}.{operation}", "Content-Type": "application/x-amz-json-1.1"},
            )
        except httpx.TransportError as exc:
            raise DaemonUnavailable(f"No inferpipe daemon answers at {self.url} ({exc}).") from exc
        data = resp.json() if resp.content else {}
        if resp.status_code >= 300:
            raise ApiError(
                data.get("__type", "InternalFailure").split("#")[-1],
                data.get("message") or data.get("Message") or resp.text,
                operation,
                resp.status_code,
            )
        return data

    def invoke(self, endpoint: str, body: bytes, headers: dict[str, str]) -> InvokeResult:
        try:
            resp = self._http.post(f"/endpoints/{endpoint}/invocations", content=body, headers=headers)
        except httpx.TransportError as exc:
            raise DaemonUnavailable(f"No inferpipe daemon answers at {self.url} ({exc}).") from exc
        if resp.status_code >= 300:
            data = resp.json() if resp.content else {}
            code = resp.headers.get("x-amzn-ErrorType", "InternalFailure").split(":")[0]
            extra = {k: v for k, v in data.items() if k != "Message"}
            if resp.headers.get("X-Inferpipe-Trace-Id"):
                extra["InferpipeTraceId"] = resp.headers["X-Inferpipe-Trace-Id"]
            raise ApiError(code, data.get("Message", resp.text), "InvokeEndpoint", resp.status_code, extra)
        return InvokeResult(
            resp.content,
            resp.headers.get("Content-Type"),
            resp.headers.get("x-Amzn-Invoked-Production-Variant"),
            resp.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
            resp.headers.get("X-Inferpipe-Trace-Id"),
        )

    def ping(self) -> dict[str, Any] | None:
        """The unsigned liveness answer ({"status": "ok", "homeId": ..., "instanceId": ...}), None when none answers."""
        try:
            resp = self._http.get("/ping", timeout=2.0)
            return resp.json() if resp.status_code == 200 else None
        except (httpx.TransportError, ValueError):
            return None

    def status(self) -> dict[str, Any] | None:
        """The daemon's url, pid, version, home... (a signed call); None when none answers."""
        if self.ping() is None:
            return None
        return self.call("Status", prefix="Inferpipe")


def _debug_request(request: httpx.Request) -> None:
    sys.stderr.write(f"DEBUG - {request.method} {request.url} {request.headers.get('X-Amz-Target', '')}\n")
    sys.stderr.write(f"DEBUG - request body: {request.content[:4096].decode(errors='replace')}\n")


def _debug_response(response: httpx.Response) -> None:
    response.read()
    sys.stderr.write(f"DEBUG - response {response.status_code}: {response.content[:4096].decode(errors='replace')}\n")


def daemon_command() -> list[str]:
    return [sys.executable, "-m", DAEMON_MODULE]


def start_daemon(settings: Settings, wait: float = 20.0) -> dict[str, Any]:
    """Start a detached daemon for this home and return its status once it answers."""
    client = ApiClient(settings.url, home=settings.home)

    def status_of_ours() -> dict[str, Any] | None:
        """The daemon's status when this home's daemon answers; None while nothing does."""
        ping = client.ping()
        if ping is None:
            return None
        _check_home(ping, settings)
        return client.call("Status", prefix="Inferpipe")

    status = status_of_ours()
    if status is not None:
        return status
    ensure_home(settings)
    # The daemon writes (and rotates) daemon.log itself; its stdout/stderr only catch a crash
    # before logging starts, so they go to a file emptied at every start.
    env = dict(
        os.environ, INFERPIPE_HOME=str(settings.home), INFERPIPE_PORT=str(settings.port), INFERPIPE_LOG_STDERR="0"
    )
    log_start = settings.log_path.stat().st_size if settings.log_path.exists() else 0
    with open_private(daemon_log.stderr_path(settings), settings) as capture:
        try:
            proc = subprocess.Popen(
                daemon_command(),
                stdout=capture,
                stderr=capture,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                cwd=str(settings.home),
            )
        except OSError as exc:
            raise DaemonStartFailed(f"Cannot run the inferpipe daemon ({' '.join(daemon_command())}): {exc}") from None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = status_of_ours()
        if status is not None:
            return status
        code = proc.poll()
        if code is not None:
            raise DaemonStartFailed(
                f"The inferpipe daemon could not start (exit code {code}): " + _start_failure(settings, log_start)
            )
        time.sleep(0.1)
    raise DaemonUnavailable(
        f"The inferpipe daemon did not answer at {settings.url} within {wait:.0f} s; see {settings.log_path}."
    )


def _start_failure(settings: Settings, offset: int) -> str:
    """What the daemon said when it gave up: its last error line, in what it printed before its
    log was set up or in this run's part of the log."""
    lines = daemon_log.crash_text(settings).strip().splitlines()
    if not lines:
        try:
            with settings.log_path.open("rb") as fh:
                fh.seek(offset)
                lines = fh.read().decode(errors="replace").strip().splitlines()
        except OSError:
            lines = []
    errors = [line.split(" ERROR ", 1)[1].partition(": ")[2] for line in lines if " ERROR " in line]
    if errors and errors[-1]:
        return errors[-1]
    return (" | ".join(lines[-3:]) or "no output") + f" (log: {settings.log_path})"


def _check_home(ping: dict[str, Any], settings: Settings) -> None:
    if ping.get("homeId") and ping["homeId"] != settings.home_id:
        raise DaemonUnavailable(
            f"The daemon at {settings.url} serves another home, not {settings.home}."
            " Set INFERPIPE_PORT to a free port for this home, or INFERPIPE_HOME to that one."
        )


def stop_daemon(settings: Settings, wait: float = 20.0) -> bool:
    """Stop this home's daemon and wait until it is gone. False if none was running.

    Only a daemon verified as this home's is asked to stop or signalled: the home's record, the live
    process and the server answering on the recorded port must agree (see daemon_identity.py).
    Anything else raises DaemonNotVerified, with nothing sent to any process."""
    record = DaemonIdentity.load(settings.identity_path)
    running = record is not None and record.is_running()
    url = f"http://{settings.host}:{record.port}" if record is not None and running else settings.url
    client = ApiClient(url, home=settings.home)
    status = client.ping()  # unsigned: nothing signed goes to a server not yet verified
    if record is None or not running:
        if status is None:
            return False
        raise DaemonNotVerified(_not_this_homes(status, settings, url))
    if not record.answered_by(status):
        if status is None:
            raise DaemonNotVerified(
                f"This home's daemon (pid {record.pid}) does not answer at {url}; not stopping it."
                f" See {settings.log_path}; if it hangs, end it with: kill {record.pid}"
            )
        raise DaemonNotVerified(
            f"The server at {url} is not this home's daemon (pid {record.pid}); nothing was stopped."
        )
    try:
        client.call("Shutdown", prefix="Inferpipe")
    except (ApiError, DaemonUnavailable):
        _signal(record, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not record.is_running():
            return True
        time.sleep(0.1)
    _signal(record, signal.SIGKILL)
    return True


def _not_this_homes(status: dict[str, Any], settings: Settings, url: str) -> str:
    home_id = status.get("homeId")
    if home_id and home_id != settings.home_id:
        return (
            f"The daemon at {url} serves another home, not {settings.home}; not stopping it."
            " To stop it, run `inferpipe daemon stop` with INFERPIPE_HOME set to its home."
        )
    return (
        f"Something answers at {url}, but {settings.home} has no running daemon of its own"
        f" (no live process matches {settings.identity_path}); nothing was stopped."
    )


def _signal(record: DaemonIdentity, sig: int) -> None:
    # Checked again right before the signal: the pid must still be that very process.
    if record.is_running():
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)
