"""Helpers the tests share: a real daemon in a temporary home, boto3 clients pointed at it, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore import xform_name
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotocoreCredentials

from inferpipe.core import credentials
from inferpipe.core.containers import labels
from inferpipe.core.credentials import Credentials

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SignedByBotocore(httpx.Auth):
    """httpx requests signed by botocore itself (not by the CLI's own signer): raw HTTP in the
    tests then checks the daemon against the reference implementation."""

    requires_request_body = True

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        signed = {
            k: v for k, v in request.headers.items() if k.lower() == "content-type" or k.lower().startswith("x-am")
        }
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=signed)
        boto = BotocoreCredentials(self.creds.access_key_id, self.creds.secret_access_key)
        SigV4Auth(boto, "sagemaker", self.creds.region).add_auth(aws)
        request.headers["Authorization"] = aws.headers["Authorization"]
        request.headers["X-Amz-Date"] = aws.headers["X-Amz-Date"]
        yield request


@dataclass
class DaemonHandle:
    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inferpipe.core.daemon"],
            env={**self.env, "INFERPIPE_LOG_STDERR": "0"},
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("daemon did not answer")

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

    def client(self, service: str = "sagemaker") -> Any:
        creds = self.credentials
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=creds.region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=70),
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
        from inferpipe.core.config import Settings

        return Settings(home=self.home).home_id

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
        ids = self.containers()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def make_daemon(**extra_env: str) -> DaemonHandle:
    home = Path(tempfile.mkdtemp(prefix="inferpipe-test-"))
    port = free_port()
    env = dict(os.environ)
    env.update(
        INFERPIPE_HOME=str(home),
        INFERPIPE_PORT=str(port),
        INFERPIPE_URL=f"http://127.0.0.1:{port}",
        INFERPIPE_MAX_STARTUP_HEALTH_TIMEOUT="20",
        INFERPIPE_LOG_LEVEL="INFO",
        **extra_env,
    )
    env.pop("AWS_PROFILE", None)
    return DaemonHandle(home, port, env)


def raw_response(client: Any, operation: str, **params: Any) -> Any:
    """Call `operation` through boto3 (signed like any call) and return the daemon's JSON as it
    was sent: boto3 drops the members its model does not know (InferpipeInstances...)."""
    captured: dict[str, bytes] = {}

    def keep(http_response: Any, **_: Any) -> None:
        captured["body"] = http_response.content

    event = f"after-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, keep, unique_id=f"raw-{id(captured)}")
    try:
        getattr(client, xform_name(operation))(**params)
    finally:
        client.meta.events.unregister(event, unique_id=f"raw-{id(captured)}")
    return json.loads(captured["body"])


def cleanup(d: DaemonHandle) -> None:
    d.stop()
    d.remove_containers()
    shutil.rmtree(d.home, ignore_errors=True)


def wait_endpoint(sm: Any, name: str, status: str = "InService", timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_endpoint(EndpointName=name)
        if desc["EndpointStatus"] == status:
            return desc
        if desc["EndpointStatus"] == "Failed" and status != "Failed":
            raise AssertionError(f"endpoint {name} failed: {desc.get('FailureReason')}")
        if time.monotonic() > deadline:
            raise AssertionError(f"endpoint {name} still {desc['EndpointStatus']} after {timeout} s")
        time.sleep(0.25)


def wait_gone(sm: Any, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sm.describe_endpoint(EndpointName=name)
        except sm.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationException":
                return
            raise
        time.sleep(0.25)
    raise AssertionError(f"endpoint {name} not deleted after {timeout} s")


def ensure_docker() -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "ensure-docker.sh")], check=True)


def build_test_images() -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "build-test-images.sh")], check=True)
