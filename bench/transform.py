"""Section `transform`: a batch transform job, file to file, against the same containers driven by
hand. The inferpipe side is CreateTransformJob until Completed; the baseline starts the same chain
with `docker run`, sends the same mini-batches with the same concurrency from a small asyncio
script, writes the responses in order, and removes the chain with `docker rm -f`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .harness import Bench, echoes_by_hand, wait_pings

CHAIN = 2  # containers per instance, as in the measurement that asked for this section
PAYLOAD_MB = 1
LINE_BLOCK = 100_000  # lines written per block when generating an input
# DescribeTransformJob until the job ends. Each call costs the daemon about 2 ms of CPU and this
# process about 3 ms, on the 2 cores the containers saturate: at a steady 50 ms that was about a
# tenth of a core the by-hand side never pays. So the poll waits half the processing time the job's
# own progress says is left (at most the CLI's --wait interval, POLL_MAX), and every POLL seconds
# while the fleet starts and once every byte is processed, when the end is near. A wrong estimate
# only reads the end late, which overstates the job's wall time; throughput comes from the
# daemon's own ElapsedSeconds.
POLL = 0.05
POLL_MAX = 0.5
JOB_TIMEOUT = 1800.0
# Runs of each case, interleaved round by round. The echo containers' speed on 2 shared cores
# drifts by a third between back-to-back runs of the same side, which a single pair of runs reports
# as a ratio anywhere from 0.7x to 1.2x; each figure is the median over the rounds. The 12 MB cases
# process in about 0.4 s, where one hiccup weighs most, and cost seconds a run, so they run more.
REPEATS = {"small": 7, "large": 3, "single": 3}

# Targets from the issue
THROUGHPUT_RATIO = 0.9  # processing throughput, at least this fraction of the direct loop
WALL_RATIO = 1.2  # create -> Completed, at most this multiple of the by-hand job
RSS_RATIO = 1.2  # the daemon's peak RSS on the large input, at most this multiple of the 12 MB one's


@dataclass(frozen=True)
class Case:
    key: str
    size: str  # small | large | single
    strategy: str
    concurrency: int
    instances: int


def cases(quick: bool) -> list[Case]:
    def c(size: str, strategy: str, conc: int, inst: int) -> Case:
        return Case(f"{size}_{strategy.lower()}_c{conc}_i{inst}", size, strategy, conc, inst)

    if quick:
        return [
            c("small", "MultiRecord", 1, 1),
            c("small", "MultiRecord", 4, 2),
            c("large", "MultiRecord", 4, 1),
            c("single", "SingleRecord", 4, 1),
        ]
    return [
        c("small", "MultiRecord", 1, 1),
        c("small", "MultiRecord", 4, 1),
        c("small", "MultiRecord", 1, 2),
        c("small", "MultiRecord", 4, 2),
        c("large", "MultiRecord", 4, 1),
        c("large", "MultiRecord", 4, 2),
        c("single", "SingleRecord", 1, 1),
        c("single", "SingleRecord", 4, 1),
        c("single", "SingleRecord", 4, 2),
    ]


def write_input(path: Path, lines: int) -> int:
    """CSV rows of about 12 bytes (1,000,000 lines is about 12 MB); large files repeat one block."""
    block = "".join(f"{i},{(i * 7919) % 100000:05d}\n" for i in range(min(lines, LINE_BLOCK))).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        left = lines
        while left >= LINE_BLOCK:
            fh.write(block)
            left -= LINE_BLOCK
        if left:
            fh.write(b"".join(block.splitlines(keepends=True)[:left]))
    return path.stat().st_size


# ------------------------------------------------------------------------------------------------
# the baseline: the chain by hand, and a small script


def multi_payloads(path: Path, limit: int) -> Iterator[bytes]:
    """Whole lines up to ``limit`` bytes per request: SageMaker's MultiRecord rule."""
    buf = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(limit)
            buf += chunk
            while len(buf) > limit or (not chunk and buf):
                cut = len(buf) if len(buf) <= limit else buf.rfind(b"\n", 0, limit) + 1
                if not cut:
                    raise RuntimeError(f"{path}: a line is longer than {limit} bytes")
                yield buf[:cut]
                buf = buf[cut:]
            if not chunk:
                return


def single_payloads(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from fh


async def drive(chains: list[list[str]], payloads: Iterator[bytes], concurrency: int, out: Path) -> None:
    """Every payload through one chain (container 1, then 2), ``concurrency`` in flight per chain,
    responses written in input order."""
    free: asyncio.Queue[list[str]] = asyncio.Queue()
    for _ in range(concurrency):
        for chain in chains:
            free.put_nowait(chain)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(body: bytes) -> bytes:
            chain = await free.get()
            try:
                for url in chain:
                    async with session.post(url, data=body, headers={"Content-Type": "text/csv"}) as resp:
                        resp.raise_for_status()
                        body = await resp.read()
                return body
            finally:
                free.put_nowait(chain)

        window: deque[asyncio.Task[bytes]] = deque()
        limit = 2 * concurrency * len(chains)
        with out.open("wb") as fh:
            for payload in payloads:
                window.append(asyncio.get_running_loop().create_task(one(payload)))
                if len(window) >= limit:
                    fh.write(await window.popleft())
            while window:
                fh.write(await window.popleft())


def by_hand(b: Bench, case: Case, source: Path, out: Path) -> dict[str, float]:
    """docker run the chain of each instance, wait for /ping, drive it, docker rm -f it. Returns the
    whole job's seconds and the loop's seconds."""
    t0 = time.monotonic()
    with echoes_by_hand(b.run_id, case.instances * CHAIN) as ports:
        wait_pings(ports)
        chains = [
            [f"http://127.0.0.1:{p}/invocations" for p in ports[i * CHAIN : (i + 1) * CHAIN]]
            for i in range(case.instances)
        ]
        payloads = (
            single_payloads(source) if case.strategy == "SingleRecord" else multi_payloads(source, PAYLOAD_MB << 20)
        )
        t1 = time.monotonic()
        asyncio.run(drive(chains, payloads, case.concurrency, out))
        t2 = time.monotonic()
    return {"job_s": time.monotonic() - t0, "loop_s": t2 - t1}


# ------------------------------------------------------------------------------------------------
# the inferpipe side


def reset_peak_rss(pid: int | None) -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so each job's peak is its own."""
    if pid:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pid: int | None) -> float | None:
    if not pid:
        return None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def next_poll(progress: dict[str, Any]) -> float:
    """Seconds until the next DescribeTransformJob (see POLL)."""
    done, total = progress.get("BytesProcessed", 0), progress.get("BytesTotal", 0)
    elapsed = progress.get("ElapsedSeconds", 0.0)
    if not 0 < done < total or elapsed <= 0:
        return POLL
    return min(POLL_MAX, max(POLL, (total - done) * elapsed / done / 2))


def daemon_job(b: Bench, model: str, case: Case, n: int, source: Path, out: Path) -> dict[str, float]:
    name = f"bench-tx-{n}-{b.run_id.replace('-', '')}"[:63]
    pid = b.daemon.pid
    reset_peak_rss(pid)
    t0 = time.monotonic()
    b.sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        MaxConcurrentTransforms=case.concurrency,
        MaxPayloadInMB=PAYLOAD_MB,
        BatchStrategy=case.strategy,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{source}"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"file://{out}", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": case.instances},
    )
    while True:
        desc = b.call("SageMaker.DescribeTransformJob", {"TransformJobName": name})
        if desc["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        if time.monotonic() - t0 > JOB_TIMEOUT:
            raise RuntimeError(f"transform job {name} still {desc['TransformJobStatus']} after {JOB_TIMEOUT} s")
        time.sleep(next_poll(desc.get("InferpipeProgress") or {}))
    wall = time.monotonic() - t0
    if desc["TransformJobStatus"] != "Completed":
        raise RuntimeError(f"transform job {name}: {desc['TransformJobStatus']}: {desc.get('FailureReason')}")
    progress = desc["InferpipeProgress"]
    return {"job_s": wall, "loop_s": float(progress["ElapsedSeconds"]), "peak_rss_mb": peak_rss_mb(pid) or 0.0}


def settle(output: Path) -> str:
    """The output's digest, then the output gone and every dirty page on disk, before the other side
    runs. Kept, the first side's 1 GB stayed dirty in memory and the kernel wrote it back (30 s
    after it was written) while the second side ran, which then shared the disk and paid for fresh
    pages: on this machine writing 1 GB into fresh pages costs 2.6 s of system time, into pages just
    freed 0.5 s."""
    digest = hashlib.blake2b()
    with output.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    output.unlink()
    os.sync()
    return digest.hexdigest()


def run_case(b: Bench, model: str, case: Case, n: int, source: Path, work: Path) -> dict[str, Any]:
    ours_out, hand_out = work / f"out-{n}", work / f"hand-{n}.out"
    ours_file = ours_out / (source.name + ".out")
    sides = [("hand", lambda: by_hand(b, case, source, hand_out), hand_out),
             ("daemon", lambda: daemon_job(b, model, case, n, source, ours_out), ours_file)]  # fmt: skip
    got: dict[str, dict[str, float]] = {}
    digests: dict[str, str] = {}
    os.sync()  # nothing of the previous case still to write back
    try:
        for side, fn, output in sides if n % 2 == 0 else reversed(sides):  # alternate which goes first
            got[side] = fn()
            digests[side] = settle(output)
    finally:
        shutil.rmtree(ours_out, ignore_errors=True)
        hand_out.unlink(missing_ok=True)
    if digests["daemon"] != digests["hand"]:
        raise RuntimeError(f"{case.key}: the job's output differs from the direct loop's")
    size = source.stat().st_size
    ours, hand = got["daemon"], got["hand"]
    return {
        "input_mb": size / 1e6,
        "job_s": ours["job_s"],
        "hand_job_s": hand["job_s"],
        "wall_ratio": ours["job_s"] / hand["job_s"],
        "mb_per_s": size / 1e6 / ours["loop_s"] if ours["loop_s"] else 0.0,
        "direct_mb_per_s": size / 1e6 / hand["loop_s"],
        "throughput_ratio": hand["loop_s"] / ours["loop_s"] if ours["loop_s"] else 0.0,
        "peak_rss_mb": ours["peak_rss_mb"],
    }


def inputs(work: Path, quick: bool) -> dict[str, Path]:
    small_lines = 100_000 if quick else 1_000_000  # 1.2 MB / 12 MB
    large_lines = 400_000 if quick else 85_000_000  # 4.8 MB / about 1 GB
    single_lines = 500 if quick else 10_000  # one request per line
    paths = {"small": work / "small" / "rows.csv", "large": work / "large" / "rows.csv",
             "single": work / "single" / "rows.csv"}  # fmt: skip
    for key, lines in (("small", small_lines), ("large", large_lines), ("single", single_lines)):
        write_input(paths[key], lines)
    return paths


def median_case(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs of one case; the peak RSS is the highest of them, and every
    run's throughput and wall ratios are kept as they were."""
    out: dict[str, Any] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    out["runs"] = len(runs)
    out["throughput_ratios"] = [r["throughput_ratio"] for r in runs]
    out["wall_ratios"] = [r["wall_ratio"] for r in runs]
    return out


def measure(b: Bench, quick: bool, log: Any) -> dict[str, dict[str, Any]]:
    model = f"bench-tx-echo{CHAIN}"
    b.sm.create_model(ModelName=model, Containers=b.echo_containers(CHAIN))
    work = Path(tempfile.mkdtemp(prefix="inferpipe-bench-tx-"))

    def repeats(case: Case) -> int:
        return 1 if quick else REPEATS[case.size]

    try:
        paths = inputs(work, quick)
        runs: dict[str, list[dict[str, Any]]] = {}
        n = 0
        for round_ in range(max(map(repeats, cases(quick)))):  # so a slow spell of the machine hits every case
            for case in cases(quick):
                if round_ < repeats(case):
                    log(f"  transform {case.key} ({round_ + 1}/{repeats(case)})")
                    runs.setdefault(case.key, []).append(run_case(b, model, case, n, paths[case.size], work))
                    n += 1
        return {key: median_case(case_runs) for key, case_runs in runs.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(Exception):
            b.sm.delete_model(ModelName=model)
