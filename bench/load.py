"""The load generator: an asyncio + aiohttp client that runs in its own process.

Why this and not wrk or a thread pool: on a 2-core machine the client, the daemon and three
Python containers share the CPUs, so the client must be cheap per request and must not hold the
daemon's interpreter (a client inside the bench's process would share its GIL with boto3 polling).
One spawned process with one event loop, a keep-alive connector and N worker coroutines (closed
loop: each worker sends its next request when the previous one answered) costs roughly one
aiohttp request of CPU per hop. The direct-chain baseline goes through the very same function,
just with three URLs instead of one, so both sides pay the same client cost per hop.

The parent talks to the child through a spawn-context Process, an Event (stop) and a Queue
(result). Timestamps are ``time.monotonic()``, which is one system-wide clock on Linux, so the
parent can line requests up with what it did meanwhile (an UpdateEndpoint call, say).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import resource
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event as EventType
from typing import Any

import aiohttp

from inferpipe.cli import signing
from inferpipe.core.credentials import Credentials

CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class LoadSpec:
    urls: tuple[str, ...]  # one URL (through the daemon) or each container's /invocations in order
    concurrency: int
    body_size: int
    duration: float | None = None  # seconds of measurement after the warm-up
    requests: int | None = None  # or a number of requests; neither: until stop() is called
    warmup: float = 1.0
    timeline: bool = False  # keep (start, latency, ok) per request
    timeout: float = 60.0
    check_echo: bool = True  # the echo containers return their input: a response of another size is a failure
    credentials: Credentials | None = None  # sign each request (SigV4) with these: the daemon requires it


@dataclass
class LoadResult:
    concurrency: int
    body_size: int
    hops: int
    measure_start: float  # monotonic
    elapsed: float  # s, from measure_start to the last counted response
    ok: int
    failed: int
    latencies_ms: list[float]  # successful requests, in completion order
    timeline: list[tuple[float, float, bool]] = field(default_factory=list)  # (start monotonic, ms, ok)
    errors: dict[str, int] = field(default_factory=dict)
    client_cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.rps * self.body_size / 1e6


class _Failure(Exception):
    pass


def _signed(url: str, headers: dict[str, str], body_sha256: str, creds: Credentials | None) -> dict[str, str]:
    """`headers` plus a SigV4 signature, as any SDK client would send; the body's hash is computed
    once per run (the body never changes), so the client pays only the HMACs (about 30 us)."""
    if creds is None:
        return headers
    with_host = {**headers, "Host": signing.host_header(url)}
    return {**with_host, **signing.sign("POST", url, with_host, b"", creds, body_sha256=body_sha256)}


async def _one(
    session: aiohttp.ClientSession,
    urls: tuple[str, ...],
    body: bytes,
    check: bool,
    creds: Credentials | None = None,
    body_sha256: str = "",
) -> None:
    """One logical request: the body through every URL in turn, as the daemon's router does it."""
    data = body
    content_type = CONTENT_TYPE
    for url in urls:
        digest = body_sha256 if data is body else signing.payload_hash(data)
        headers = _signed(url, {"Content-Type": content_type}, digest, creds)
        async with session.post(url, data=data, headers=headers) as resp:
            payload = await resp.read()
            if resp.status != 200:
                raise _Failure(f"HTTP {resp.status}: {payload[:120].decode(errors='replace')}")
            data = payload
            content_type = resp.headers.get("Content-Type", CONTENT_TYPE)
    if check and len(data) != len(body):
        raise _Failure(f"answer of {len(data)} bytes for a body of {len(body)}")


async def _run(spec: LoadSpec, stop: EventType) -> LoadResult:
    body = (b"0123456789abcdef" * (spec.body_size // 16 + 1))[: spec.body_size]
    body_sha256 = signing.payload_hash(body)
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=120, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=spec.timeout)
    latencies: list[float] = []
    timeline: list[tuple[float, float, bool]] = []
    errors: dict[str, int] = {}
    counts = {"ok": 0, "failed": 0, "started": 0}
    state = {"measuring": False, "done": False, "last_end": 0.0}
    measure_start = 0.0
    cpu_start = 0.0

    async def worker(session: aiohttp.ClientSession) -> None:
        while not state["done"]:
            counted = bool(state["measuring"])
            if counted:
                if spec.requests is not None and counts["started"] >= spec.requests:
                    return
                counts["started"] += 1
            wall = time.monotonic()
            t0 = time.perf_counter()
            ok = True
            try:
                await _one(session, spec.urls, body, spec.check_echo, spec.credentials, body_sha256)
            except (aiohttp.ClientError, OSError, TimeoutError, _Failure) as exc:
                ok = False
                if counted:
                    key = f"{type(exc).__name__}: {exc}"[:160]
                    errors[key] = errors.get(key, 0) + 1
            ms = (time.perf_counter() - t0) * 1000
            if not counted:
                continue
            if ok:
                counts["ok"] += 1
                latencies.append(ms)
            else:
                counts["failed"] += 1
            if spec.timeline:
                timeline.append((wall, ms, ok))
            state["last_end"] = time.monotonic()

    async def supervisor() -> None:
        nonlocal measure_start, cpu_start
        await asyncio.sleep(spec.warmup)
        measure_start = time.monotonic()
        cpu_start = _cpu()
        state["measuring"] = True
        while not stop.is_set():
            if spec.duration is not None and time.monotonic() - measure_start >= spec.duration:
                break
            if spec.requests is not None and counts["started"] >= spec.requests:
                break
            await asyncio.sleep(0.02)
        state["done"] = True

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, skip_auto_headers=("User-Agent",)
    ) as session:
        workers = [asyncio.create_task(worker(session)) for _ in range(spec.concurrency)]
        await supervisor()
        await asyncio.gather(*workers)
        cpu = _cpu() - cpu_start  # the measured window only, not the warm-up
    end = state["last_end"] or time.monotonic()
    return LoadResult(
        concurrency=spec.concurrency,
        body_size=spec.body_size,
        hops=len(spec.urls),
        measure_start=measure_start,
        elapsed=max(end - measure_start, 1e-9),
        ok=counts["ok"],
        failed=counts["failed"],
        latencies_ms=latencies,
        timeline=timeline,
        errors=errors,
        client_cpu_s=cpu,
    )


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _child(spec: LoadSpec, stop: EventType, out: Any) -> None:
    # Ctrl-C reaches the whole foreground process group: the parent decides when the load ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        out.put(("ok", _run_sync(spec, stop)))
    except BaseException as exc:  # noqa: BLE001 - report anything to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _run_sync(spec: LoadSpec, stop: EventType) -> LoadResult:
    return asyncio.run(_run(spec, stop))


class LoadRun:
    """A load generator process: start() it, optionally stop() it, then result()."""

    def __init__(self, spec: LoadSpec) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.spec = spec
        self._stop = ctx.Event()
        self._queue: Any = ctx.Queue()
        self._proc: SpawnProcess = ctx.Process(target=_child, args=(spec, self._stop, self._queue), daemon=True)

    def start(self) -> LoadRun:
        self._proc.start()
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def stop(self) -> None:
        self._stop.set()

    def result(self, timeout: float | None = None) -> LoadResult:
        limit = timeout
        if limit is None:  # a hang guard: generous, never a timing judgement
            limit = (self.spec.duration or 0) + self.spec.warmup + self.spec.timeout + 120
            limit += 0.05 * (self.spec.requests or 0)
        deadline = time.monotonic() + limit
        try:
            while True:
                try:
                    kind, value = self._queue.get(timeout=0.5)
                    break
                except queue.Empty:
                    if not self._proc.is_alive():
                        raise RuntimeError(f"load generator exited with code {self._proc.exitcode}") from None
                    if time.monotonic() > deadline:
                        raise RuntimeError("load generator did not finish in time") from None
            self._proc.join(10)
        finally:
            self.kill()
        if kind != "ok":
            raise RuntimeError(f"load generator failed: {value}")
        assert isinstance(value, LoadResult)
        return value

    def kill(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        if self._proc.is_alive() and self._proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.join(5)


def run_load(spec: LoadSpec) -> LoadResult:
    """Run a bounded load (duration or requests) in its own process and wait for it."""
    run = LoadRun(spec).start()
    return run.result()
