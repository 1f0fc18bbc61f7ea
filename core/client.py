"""The API client the CLI uses: SageMaker JSON 1.1 calls over httpx, and the daemon's lifecycle
(start it detached when none answers, stop it gracefully)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .config import ConfigError, Settings

__all__ = ["ApiClient", "ApiError", "ConfigError", "DaemonUnavailable", "InvokeResult", "start_daemon", "stop_daemon"]


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


@dataclass
class InvokeResult:
    body: bytes
    content_type: str | None
    variant: str | None
    custom_attributes: str | None


class ApiClient:
    def __init__(self, url: str, timeout: float = 75.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def call(self, operation: str, body: dict[str, Any] | None = None, prefix: str = "SageMaker") -> dict[str, Any]:
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
            raise ApiError(code, data.get("Message", resp.text), "InvokeEndpoint", resp.status_code, extra)
        return InvokeResult(
            resp.content,
            resp.headers.get("Content-Type"),
            resp.headers.get("x-Amzn-Invoked-Production-Variant"),
            resp.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
        )

    def status(self) -> dict[str, Any] | None:
        try:
            resp = self._http.get("/ping", timeout=2.0)
            return resp.json() if resp.status_code == 200 else None
        except (httpx.TransportError, ValueError):
            return None


def daemon_command() -> list[str]:
    return [sys.executable, "-m", "inferpipe.core.daemon"]


def start_daemon(settings: Settings, wait: float = 20.0) -> dict[str, Any]:
    """Start a detached daemon for this home and return its status once it answers."""
    client = ApiClient(settings.url)
    status = client.status()
    if status is not None:
        _check_home(status, settings)
        return status
    settings.home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, INFERPIPE_HOME=str(settings.home), INFERPIPE_PORT=str(settings.port))
    with settings.log_path.open("ab") as log:
        proc = subprocess.Popen(
            daemon_command(),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=str(settings.home),
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = client.status()
        if status is not None:
            return status
        code = proc.poll()
        if code is not None:
            tail = settings.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise DaemonUnavailable(
                f"The inferpipe daemon exited at start (code {code}). Last log lines ({settings.log_path}): "
                + " | ".join(tail)
            )
        time.sleep(0.1)
    raise DaemonUnavailable(
        f"The inferpipe daemon did not answer at {settings.url} within {wait:.0f} s; see {settings.log_path}."
    )


def _check_home(status: dict[str, Any], settings: Settings) -> None:
    if status.get("home") and status["home"] != str(settings.home):
        raise DaemonUnavailable(
            f"The daemon at {settings.url} serves another home ({status['home']}), not {settings.home}."
            " Set INFERPIPE_PORT to a free port for this home, or INFERPIPE_HOME to that one."
        )


def stop_daemon(settings: Settings, wait: float = 20.0) -> bool:
    """Ask the daemon to stop and wait until it is gone. False if none was running."""
    client = ApiClient(settings.url)
    status = client.status()
    if status is None:
        return False
    pid = int(status.get("pid", 0))
    try:
        client.call("Shutdown", prefix="Inferpipe")
    except (ApiError, DaemonUnavailable):
        if pid:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if client.status() is None and not _alive(pid):
            return True
        time.sleep(0.1)
    if pid and _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False
