"""What the sections share: a private daemon in a temporary home, boto3 clients, endpoints of echo
containers, the images, and cleanup that runs whatever happened."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
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
from botocore.exceptions import ClientError

from inferpipe.cli.client import SigV4
from inferpipe.core import credentials
from inferpipe.core.credentials import Credentials

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
ECHO_IMAGE = "inferpipe-test/echo:1"
HAND_LABEL = "inferpipe-bench"  # on the containers the bench starts by hand (cold-start baseline)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_images() -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "build-test-images.sh")], check=True, cwd=REPO)


@dataclass
class Daemon:
    """The bench's own daemon (the same few lines as tests/support.py's DaemonHandle)."""

    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    wrapper: Path | None = None  # a Python file that starts the daemon instead of -m (experiments)

    @classmethod
    def create(cls, wrapper: Path | None = None) -> Daemon:
        home = Path(tempfile.mkdtemp(prefix="inferpipe-bench-"))
        port = free_port()
        env = dict(os.environ)
        for key in ("AWS_PROFILE", "INFERPIPE_URL"):
            env.pop(key, None)
        env.update(
            INFERPIPE_HOME=str(home),
            INFERPIPE_PORT=str(port),
            INFERPIPE_URL=f"http://127.0.0.1:{port}",
            INFERPIPE_MAX_STARTUP_HEALTH_TIMEOUT="60",
        )
        return cls(home, port, env, wrapper=wrapper)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, wait: float = 30) -> None:
        # The daemon writes daemon.log itself; stdout/stderr only catch a crash before logging starts.
        log = (self.home / "daemon.stderr").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(self.wrapper)] if self.wrapper else [sys.executable, "-m", "inferpipe.core.daemon"],
            env={**self.env, "INFERPIPE_LOG_STDERR": "0"},
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal is ours to handle, not the daemon's
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_tail()}")
            time.sleep(0.1)
        raise RuntimeError(f"daemon did not answer within {wait} s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        paths = [self.home / "daemon.log", self.home / "daemon.stderr"]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())[-n:]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    @property
    def home_id(self) -> str:
        from inferpipe.core.config import Settings

        return Settings(home=self.home.resolve()).home_id

    def remove_containers(self) -> None:
        """The daemon leaves containers running when it stops (the next one re-adopts them): remove them."""
        remove_labelled(f"inferpipe.home={self.home_id}")

    @property
    def credentials(self) -> Credentials:
        """The daemon's own credentials, from its home (it writes them when it starts)."""
        creds = credentials.load(self.home)
        if creds is None:
            raise RuntimeError(f"no credentials in {self.home}: did the daemon start?")
        return creds

    @property
    def auth(self) -> SigV4:
        return SigV4(self.home)

    def client(self, service: str) -> Any:
        creds = self.credentials
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=creds.region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120, max_pool_connections=4),
        )

    def call(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """A raw JSON 1.1 call (boto3 drops fields its model does not know, like InferpipeInstances)."""
        resp = httpx.post(
            self.url,
            content=json.dumps(body),
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
            timeout=30,
            auth=self.auth,
        )
        data: dict[str, Any] = resp.json()
        if resp.status_code >= 300:
            raise RuntimeError(f"{target}: {data}")
        return data

    def cpu_seconds(self) -> tuple[float, float] | None:
        """The daemon process's (user, system) CPU time, from /proc."""
        if not self.pid:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks, int(fields[12]) / ticks


def remove_labelled(label: str) -> None:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True, check=False
    ).stdout.split()
    if out:
        subprocess.run(["docker", "rm", "-f", *out], capture_output=True, check=False)


@dataclass
class Bench:
    """One run: the daemon, its clients, the endpoint under test and what must be undone."""

    daemon: Daemon
    quick: bool
    duration: float
    requests: int | None
    run_id: str = field(default_factory=lambda: f"{os.getpid()}-{int(time.time())}")
    endpoints: set[str] = field(default_factory=set)
    sm: Any = None
    rt: Any = None
    endpoint: str = "bench-echo3"
    model: str = "bench-echo3"
    config: str = "bench-echo3-1"

    def __post_init__(self) -> None:
        self.sm = self.daemon.client("sagemaker")
        self.rt = self.daemon.client("sagemaker-runtime")

    @property
    def invoke_url(self) -> str:
        return f"{self.daemon.url}/endpoints/{self.endpoint}/invocations"

    def echo_containers(self, n: int = 3, extra_env: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return [{"Image": ECHO_IMAGE, "Environment": {"ECHO_RAW": "1", **(extra_env or {})}} for _ in range(n)]

    def create_model(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.sm.create_model(ModelName=name, Containers=self.echo_containers(3, extra_env))

    def create_config(self, name: str, model: str, instances: int = 1) -> None:
        self.sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InitialInstanceCount": instances,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )

    def setup(self) -> None:
        self.create_model(self.model)
        self.create_config(self.config, self.model)
        self.create_endpoint(self.endpoint, self.config)
        self.wait_status(self.endpoint, "InService")

    def create_endpoint(self, name: str, config: str) -> None:
        self.endpoints.add(name)
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=config)

    def describe(self, name: str | None = None) -> dict[str, Any]:
        return self.daemon.call("SageMaker.DescribeEndpoint", {"EndpointName": name or self.endpoint})

    def wait_status(self, name: str, status: str, timeout: float = 180, poll: float = 0.05) -> float:
        """Poll until the endpoint has `status`; return the monotonic time it was first seen."""
        deadline = time.monotonic() + timeout
        while True:
            desc = self.describe(name)
            now = time.monotonic()
            if desc["EndpointStatus"] == status:
                return now
            if desc["EndpointStatus"] == "Failed":
                raise RuntimeError(f"endpoint {name} failed: {desc.get('FailureReason')}")
            if now > deadline:
                raise RuntimeError(f"endpoint {name} still {desc['EndpointStatus']} after {timeout} s")
            time.sleep(poll)

    def delete_endpoint(self, name: str, wait: bool = True, timeout: float = 120) -> None:
        with contextlib.suppress(ClientError):
            self.sm.delete_endpoint(EndpointName=name)
        deadline = time.monotonic() + timeout
        while wait and time.monotonic() < deadline:
            try:
                self.describe(name)
            except RuntimeError:
                break
            time.sleep(0.1)
        self.endpoints.discard(name)

    def direct_urls(self) -> tuple[str, ...]:
        """Container 1..3 of the endpoint's first instance, on their published 127.0.0.1 ports."""
        desc = self.describe()
        inst = desc["InferpipeInstances"][0]
        return tuple(f"http://127.0.0.1:{c['HostPort']}/invocations" for c in inst["Containers"])

    def metrics(self, seconds: float) -> list[dict[str, Any]]:
        data = self.daemon.call("Inferpipe.EndpointMetrics", {"EndpointName": self.endpoint, "Seconds": seconds})
        rows: list[dict[str, Any]] = data["Metrics"]
        return rows

    def prometheus_totals(self) -> dict[str, float]:
        """Cumulative counters for the endpoint under test, keyed by metric name (no container series)."""
        text = httpx.get(f"{self.daemon.url}/metrics", timeout=10, auth=self.daemon.auth).text
        out: dict[str, float] = {}
        needle = f'endpoint="{self.endpoint}"'
        for line in text.splitlines():
            if needle in line and "container=" not in line:
                name, value = line.rsplit(" ", 1)
                out[name.split("{")[0]] = out.get(name.split("{")[0], 0.0) + float(value)
        return out

    def cleanup(self) -> None:
        for name in list(self.endpoints):
            with contextlib.suppress(Exception):
                self.delete_endpoint(name, wait=True, timeout=60)
        remove_labelled(f"{HAND_LABEL}={self.run_id}")


def cleanup_all(bench: Bench | None, daemon: Daemon | None, keep_home: bool = False) -> None:
    """Best effort, every step independent: endpoints, hand-run containers, the daemon, its leftovers."""
    if bench is not None:
        with contextlib.suppress(BaseException):
            bench.cleanup()
    if daemon is not None:
        with contextlib.suppress(BaseException):
            daemon.stop()
        with contextlib.suppress(BaseException):
            daemon.remove_containers()
        if not keep_home:
            shutil.rmtree(daemon.home, ignore_errors=True)
