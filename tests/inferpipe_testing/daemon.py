"""A real daemon in a temporary home: start it, sign requests to it, drive the CLI against it and
remove everything it started."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from inferpipe.core import credentials
from inferpipe.core.config import Settings
from inferpipe.core.containers import labels
from inferpipe.core.credentials import Credentials

from .signing import SignedByBotocore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def remove_labelled(label: str) -> None:
    """Remove every container, running or not, that carries `label` (``key=value``)."""
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True, check=False
    ).stdout.split()
    if out:
        subprocess.run(["docker", "rm", "-f", *out], capture_output=True, check=False)


@dataclass
class DaemonHandle:
    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    wrapper: Path | None = None  # a Python file that starts the daemon instead of -m (bench experiments)
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def credentials(self) -> Credentials:
        """The daemon's own credentials, as it wrote them in its home when it started."""
        creds = credentials.load(self.home)
        if creds is None:
            raise AssertionError(f"no credentials in {self.home} (was the daemon started with INFERPIPE_AUTH=none?)")
        return creds

    @property
    def auth(self) -> SignedByBotocore:
        """For raw httpx calls: `httpx.post(daemon.url + "/", ..., auth=daemon.auth)`."""
        return SignedByBotocore(self.credentials)

    def start(self, wait: float = 20) -> None:
        # The daemon writes daemon.log itself (rotating it); stdout/stderr only catch early crashes.
        log = (self.home / "daemon.stderr").open("ab")
        command = [str(self.wrapper)] if self.wrapper else ["-m", "inferpipe.core.daemon"]
        self.proc = subprocess.Popen(
            [sys.executable, *command],
            env={**self.env, "INFERPIPE_LOG_STDERR": "0"},
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the caller's terminal is the caller's, not the daemon's
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"daemon did not answer within {wait} s: {self.log_text()[-2000:]}")

    def store_snapshot(self) -> tuple[Any, ...]:
        """Everything the daemon has stored (resources, tags, alarms, the event log's end), read
        straight from its state.db: what a refused call must leave exactly as it was."""
        db = sqlite3.connect(f"file:{self.home / 'state.db'}?mode=ro", uri=True)
        try:
            return (
                db.execute("SELECT max(id) FROM events").fetchone(),
                db.execute("SELECT * FROM resources ORDER BY kind, name_key").fetchall(),
                db.execute("SELECT * FROM tags ORDER BY arn, key").fetchall(),
                db.execute("SELECT * FROM alarms ORDER BY name").fetchall(),
            )
        finally:
            db.close()

    def log_text(self) -> str:
        """Everything the daemon logged (rotated files first), then what it printed outside its log."""
        files = sorted(self.home.glob("daemon.log.*"), key=lambda p: -int(p.suffix[1:])) + [self.home / "daemon.log"]
        files.append(self.home / "daemon.stderr")
        return "".join(p.read_text(errors="replace") for p in files if p.exists())

    def stop(self, sig: int = 15) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def client(self, service: str = "sagemaker", read_timeout: float = 70, max_pool_connections: int = 10) -> Any:
        creds = self.credentials
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=creds.region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(
                retries={"max_attempts": 1, "mode": "standard"},
                read_timeout=read_timeout,
                max_pool_connections=max_pool_connections,
            ),
        )

    def raw_call(self, target: str, body: bytes, headers: dict[str, str | bytes] | None = None) -> httpx.Response:
        """A control-plane call with exactly these body bytes (what botocore would refuse to send)."""
        return self._raw_post(
            "/", body, {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}, headers
        )

    def raw_invoke(self, endpoint: str, body: bytes, headers: dict[str, str | bytes] | None = None) -> httpx.Response:
        """InvokeEndpoint with any path segment and headers (``endpoint`` is sent as given, unescaped)."""
        return self._raw_post(f"/endpoints/{endpoint}/invocations", body, {}, headers)

    def _raw_post(
        self, path: str, body: bytes, base: dict[str, str], headers: dict[str, str | bytes] | None
    ) -> httpx.Response:
        # The one place raw requests are built: signed with the daemon's own credentials unless it
        # runs with INFERPIPE_AUTH=none.
        if self._http is None:
            signed = self.env.get("INFERPIPE_AUTH", "sigv4") != "none"
            self._http = httpx.Client(base_url=self.url, timeout=30, auth=self.auth if signed else None)
        return self._http.post(path, content=body, headers={**base, **(headers or {})})

    def cli(
        self, *args: str, input: bytes | None = None, check: bool = False, autostart: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        """Run the CLI against this daemon; autostart=True drops INFERPIPE_URL so the CLI finds (or
        starts) the daemon of INFERPIPE_HOME by itself, as a user's shell would."""
        exe = Path(sys.executable).parent / "inferpipe"
        env = {k: v for k, v in self.env.items() if not (autostart and k == "INFERPIPE_URL")}
        result = subprocess.run([str(exe), *args], env=env, input=input, capture_output=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"inferpipe {' '.join(args)} failed: {result.stderr.decode()}")
        return result

    def cli_json(self, *args: str) -> Any:
        out = self.cli(*args, "--output", "json", check=True).stdout
        return json.loads(out) if out.strip() else None

    @property
    def home_id(self) -> str:
        # resolved as the daemon resolves INFERPIPE_HOME, or the label would not match a symlinked /tmp
        return Settings(home=self.home.resolve()).home_id

    def containers(self) -> list[str]:
        out = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={labels.HOME}={self.home_id}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return out.split()

    def containers_of(self, endpoint: str, hostname: str | None = None) -> list[str]:
        filters = ["--filter", f"label={labels.HOME}={self.home_id}", "--filter", f"label={labels.OWNER}={endpoint}"]
        if hostname:
            filters += ["--filter", f"label={labels.CONTAINER_HOSTNAME}={hostname}"]
        out = subprocess.run(["docker", "ps", "-aq", *filters], capture_output=True, text=True, check=False).stdout
        return out.split()

    def remove_containers(self) -> None:
        """The daemon leaves containers running when it stops (the next one re-adopts them): remove them."""
        remove_labelled(f"{labels.HOME}={self.home_id}")


def make_daemon(prefix: str = "inferpipe-test-", wrapper: Path | None = None, **extra_env: str) -> DaemonHandle:
    """A daemon (not started) in a fresh temporary home on a free port; `extra_env` overrides its settings."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    port = free_port()
    env = dict(os.environ)
    env.update(
        INFERPIPE_HOME=str(home),
        INFERPIPE_PORT=str(port),
        INFERPIPE_URL=f"http://127.0.0.1:{port}",
        INFERPIPE_MAX_STARTUP_HEALTH_TIMEOUT="20",
        INFERPIPE_LOG_LEVEL="INFO",
    )
    env.update(extra_env)
    env.pop("AWS_PROFILE", None)
    return DaemonHandle(home, port, env, wrapper=wrapper)


def cleanup(d: DaemonHandle, keep_home: bool = False) -> None:
    """Stop the daemon, remove its containers and its home; each step runs even if one before failed."""
    try:
        d.stop()
    finally:
        try:
            d.remove_containers()
        finally:
            if not keep_home:
                shutil.rmtree(d.home, ignore_errors=True)
