"""What the sections share: a private daemon in a temporary home, boto3 clients, endpoints of echo
containers, the images, and cleanup that runs whatever happened."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
# The daemon harness is the tests' own (tests/inferpipe_testing), so the bench measures the daemon
# exactly as the tests start it.
sys.path.insert(0, str(REPO / "tests"))

from inferpipe_testing.daemon import DaemonHandle, cleanup, make_daemon, remove_labelled  # noqa: E402

ECHO_IMAGE = "inferpipe-test/echo:1"
HAND_LABEL = "inferpipe-bench"  # on the containers the bench starts by hand (cold-start baseline)


def build_images() -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "build-test-images.sh")], check=True, cwd=REPO)


def docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@contextlib.contextmanager
def echoes_by_hand(run_id: str, n: int) -> Iterator[list[int]]:
    """What a person would do: `docker run` n echo containers (ECHO_RAW=1), each with a port
    published on 127.0.0.1; yields those ports, and `docker rm -f`s the containers on leaving."""
    ids: list[str] = []
    try:
        for _ in range(n):
            run = ["run", "-d", "--label", f"{HAND_LABEL}={run_id}", "-e", "ECHO_RAW=1", "-p", "127.0.0.1::8080"]
            ids.append(docker(*run, ECHO_IMAGE, "serve"))
        yield [int(docker("port", cid, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]) for cid in ids]
    finally:
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def wait_pings(ports: list[int], timeout: float = 60) -> None:
    """Poll each port's /ping until all answer 200."""
    deadline = time.monotonic() + timeout
    pending = set(ports)
    with httpx.Client(timeout=2) as client:
        while pending:
            for port in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"http://127.0.0.1:{port}/ping").status_code == 200:
                        pending.discard(port)
            if pending:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"hand-run containers did not answer /ping within {timeout} s")
                time.sleep(0.02)


# Longer than the tests allow: a loaded machine is the bench's normal state.
DAEMON_START_WAIT = 30.0


def bench_daemon(wrapper: Path | None = None) -> DaemonHandle:
    """The bench's daemon, not started yet (so cleanup has a home to remove whatever happens next)."""
    return make_daemon(prefix="inferpipe-bench-", wrapper=wrapper, INFERPIPE_MAX_STARTUP_HEALTH_TIMEOUT="60")


def cpu_seconds(pid: int | None) -> tuple[float, float] | None:
    """A process's (user, system) CPU time, from /proc."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


@dataclass
class Bench:
    """One run: the daemon, its clients, the endpoint under test and what must be undone."""

    daemon: DaemonHandle
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
        self.sm = self.daemon.client("sagemaker", read_timeout=120, max_pool_connections=4)
        self.rt = self.daemon.client("sagemaker-runtime", read_timeout=120, max_pool_connections=4)

    def call(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """A raw JSON 1.1 call (boto3 drops fields its model does not know, like InferpipeInstances)."""
        resp = self.daemon.raw_call(target, json.dumps(body).encode())
        data: dict[str, Any] = resp.json()
        if resp.status_code >= 300:
            raise RuntimeError(f"{target}: {data}")
        return data

    def daemon_cpu_seconds(self) -> tuple[float, float] | None:
        return cpu_seconds(self.daemon.pid)

    @property
    def invoke_url(self) -> str:
        return f"{self.daemon.url}/endpoints/{self.endpoint}/invocations"

    def echo_containers(self, n: int = 3, extra_env: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return [{"Image": ECHO_IMAGE, "Environment": {"ECHO_RAW": "1", **(extra_env or {})}} for _ in range(n)]

    def create_model(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.sm.create_model(ModelName=name, Containers=self.echo_containers(3, extra_env))

    def create_config(self, name: str, model: str, instances: int = 1, **extra: Any) -> None:
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
            **extra,
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
        return self.call("SageMaker.DescribeEndpoint", {"EndpointName": name or self.endpoint})

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
        data = self.call("Inferpipe.EndpointMetrics", {"EndpointName": self.endpoint, "Seconds": seconds})
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


def cleanup_all(bench: Bench | None, daemon: DaemonHandle | None, keep_home: bool = False) -> None:
    """Best effort, every step independent: endpoints, hand-run containers, the daemon, its leftovers."""
    if bench is not None:
        with contextlib.suppress(BaseException):
            bench.cleanup()
    if daemon is not None:
        with contextlib.suppress(BaseException):
            cleanup(daemon, keep_home=keep_home)
