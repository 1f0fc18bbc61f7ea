"""The measurements. Each returns a SectionResult: numbers for the JSON file, rows for the
table, and the targets it can judge. Every figure that depends on the machine is paired with a
baseline measured in the same run, on the same containers where that makes sense."""

from __future__ import annotations

import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import ClientError

from . import transform
from .harness import BENCH, Bench, echoes_by_hand, wait_pings
from .load import LoadResult, LoadRun, LoadSpec, run_load
from .modeldata import measure as measure_model_data
from .s3transform import S3_THROUGHPUT_RATIO
from .s3transform import measure as measure_s3_transform
from .stats import diff, mean, median, percentile, ratio, rnd
from .telemetry import section_otlp

SMALL_BODY = 64  # bytes: "small bodies" for the overhead and throughput targets
KIB = 1024
PAYLOADS = (("1KiB", KIB), ("100KiB", 100 * KIB), ("5MiB", 5 * KIB * KIB))
SECTIONS = (
    "overhead", "throughput", "payload", "update", "cli", "coldstart",
    "capture", "otlp", "s3transform", "transform", "modeldata",
)  # fmt: skip

# Targets from the issue
OVERHEAD_P50_MS = 0.5
OVERHEAD_P99_MS = 2.0
THROUGHPUT_RATIO = 0.8
UPDATE_P99_RATIO = 1.5
CLI_RATIO = 0.3
COLD_RATIO = 1.2
CAPTURE_RATIO = 0.9


@dataclass
class Row:
    measure: str
    ours: str
    base: str = ""
    delta: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class SectionResult:
    name: str
    status: str = "ok"  # ok | not available yet | error
    results: dict[str, Any] = field(default_factory=dict)  # numbers only (nested)
    info: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping
    skipped: list[str] = field(default_factory=list)  # dotted result paths that are None on purpose
    rows: list[Row] = field(default_factory=list)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def target(self, key: str, text: str, value: float | None, limit: float, *, at_most: bool = True) -> bool | None:
        met = None if value is None else (value <= limit if at_most else value >= limit)
        self.targets[key] = {"target": text, "value": rnd(value, 5), "limit": limit, "met": met}
        return met

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "results": self.results,
            "info": self.info,
            "skipped": self.skipped,
            "targets": self.targets,
        }


def fmt(x: float | None, digits: int = 2, unit: str = "") -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}{unit}"


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


# ------------------------------------------------------------------------------------------------
# measuring a (daemon, direct) pair


@dataclass
class Phase:
    """One side of a comparison, merged over its rounds."""

    ok: int = 0
    failed: int = 0
    elapsed: float = 0.0
    body_size: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, r: LoadResult) -> None:
        self.ok += r.ok
        self.failed += r.failed
        self.elapsed += r.elapsed
        self.body_size = r.body_size
        self.latencies_ms.extend(r.latencies_ms)
        self.client_cpu_s += r.client_cpu_s
        for k, v in r.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "p50_ms": rnd(percentile(self.latencies_ms, 50), 4),
            "p99_ms": rnd(percentile(self.latencies_ms, 99), 4),
            "mean_ms": rnd(mean(self.latencies_ms), 4),
            "rps": rnd(self.rps, 1),
            "mb_per_s": rnd(self.rps * self.body_size / 1e6, 3),
            "requests": self.ok,
            "failed": self.failed,
            "seconds": rnd(self.elapsed, 3),
            "client_cpu_pct": rnd(100 * self.client_cpu_s / self.elapsed if self.elapsed else None, 1),
        }


@dataclass
class Pair:
    concurrency: int
    body_size: int
    daemon: Phase
    direct: Phase
    daemon_cpu_ms_per_req: float | None
    daemon_sys_share: float | None  # the kernel's part of the daemon's CPU (socket calls)
    metric_overhead_mean_ms: float | None  # exact, from the daemon's cumulative counters
    metric_overhead_p50_ms: float | None  # from Inferpipe.EndpointMetrics (a reservoir per 10 s bucket)
    metric_overhead_p99_ms: float | None

    def added_ms(self, q: float) -> float | None:
        """Unrounded: the targets are judged on these, not on the rounded figures in the JSON."""
        return diff(percentile(self.daemon.latencies_ms, q), percentile(self.direct.latencies_ms, q))

    @property
    def throughput_ratio(self) -> float | None:
        return ratio(self.daemon.rps, self.direct.rps)

    def summary(self) -> dict[str, Any]:
        d, x = self.daemon.summary(), self.direct.summary()
        return {
            "concurrency": self.concurrency,
            "body_bytes": self.body_size,
            "daemon": d,
            "direct": x,
            "added_p50_ms": rnd(diff(d["p50_ms"], x["p50_ms"]), 4),
            "added_p99_ms": rnd(diff(d["p99_ms"], x["p99_ms"]), 4),
            "added_mean_ms": rnd(diff(d["mean_ms"], x["mean_ms"]), 4),
            "ratio_p50": rnd(ratio(d["p50_ms"], x["p50_ms"]), 3),
            "ratio_p99": rnd(ratio(d["p99_ms"], x["p99_ms"]), 3),
            "throughput_ratio": rnd(ratio(d["rps"], x["rps"]), 3),
            "daemon_metric_overhead_mean_ms": rnd(self.metric_overhead_mean_ms, 4),
            "daemon_metric_overhead_p50_ms": rnd(self.metric_overhead_p50_ms, 4),
            "daemon_metric_overhead_p99_ms": rnd(self.metric_overhead_p99_ms, 4),
            "daemon_cpu_ms_per_request": rnd(self.daemon_cpu_ms_per_req, 4),
            "daemon_cpu_sys_share": rnd(self.daemon_sys_share, 3),
        }


@dataclass
class Ctx:
    bench: Bench
    quick: bool
    duration: float  # seconds per measured phase (both sides together get 2×)
    requests: int | None
    update_concurrency: int = 4
    payload_concurrency: int = 4
    profile: Callable[[float, str], None] | None = None  # py-spy the daemon for (seconds, label)
    pairs: dict[tuple[int, int], Pair] = field(default_factory=dict)
    log: Callable[[str], None] = print

    @property
    def warmup(self) -> float:
        return 0.3 if self.quick else 1.0

    @property
    def rounds(self) -> int:
        return 1 if self.quick else 2


def measure_pair(ctx: Ctx, concurrency: int, body_size: int, duration: float) -> Pair:
    """Daemon vs direct chain, same client code, interleaved in rounds (direct, daemon, daemon, direct)
    so slow drift of the shared machine hits both sides alike."""
    key = (concurrency, body_size)
    if key in ctx.pairs:
        return ctx.pairs[key]
    b = ctx.bench
    daemon, direct = Phase(), Phase()
    requests = None if ctx.requests is None else max(1, ctx.requests // ctx.rounds)
    per_round = duration / ctx.rounds
    order = [("direct", "daemon"), ("daemon", "direct")]
    cpu_user = cpu_sys = 0.0
    cpu_reqs = 0.0
    metric_sum_us = 0.0
    metric_count = 0.0
    pair_start = time.monotonic()
    for r in range(ctx.rounds):
        for side in order[r % 2]:
            urls = (b.invoke_url,) if side == "daemon" else b.direct_urls()
            spec = LoadSpec(
                urls=urls,
                concurrency=concurrency,
                body_size=body_size,
                duration=None if requests else per_round,
                requests=requests,
                warmup=ctx.warmup,
                credentials=b.daemon.credentials if side == "daemon" else None,
            )
            ctx.log(f"  {side:6} c={concurrency:<3} body={body_size:>8} B  ({spec.duration or spec.requests})")
            if side == "daemon":
                totals0 = b.prometheus_totals()
                cpu0 = b.daemon_cpu_seconds()
                if ctx.profile and concurrency >= 16 and body_size == SMALL_BODY and r == 0:
                    ctx.profile(ctx.warmup + (per_round if not requests else 10.0), f"c{concurrency}")
                res = run_load(spec)
                cpu1 = b.daemon_cpu_seconds()
                totals1 = b.prometheus_totals()
                n = _delta(totals0, totals1, "inferpipe_invocations_total")
                if cpu0 is not None and cpu1 is not None and n:
                    cpu_user += cpu1[0] - cpu0[0]
                    cpu_sys += cpu1[1] - cpu0[1]
                    cpu_reqs += n
                metric_sum_us += _delta(totals0, totals1, "inferpipe_overhead_latency_microseconds_sum")
                metric_count += n
                daemon.add(res)
            else:
                direct.add(run_load(spec))
    # The daemon keeps a reservoir per 10 s bucket: ask for the pair's whole span (a few seconds of
    # the previous measurement may bleed in at the start).
    p50 = p99 = None
    rows = b.metrics(max(1.0, time.monotonic() - pair_start))
    for row in rows:
        if row["MetricName"] == "OverheadLatency":
            p50 = row["p50"] / 1000 if row.get("p50") is not None else None
            p99 = row["p99"] / 1000 if row.get("p99") is not None else None
    pair = Pair(
        concurrency,
        body_size,
        daemon,
        direct,
        daemon_cpu_ms_per_req=1000 * (cpu_user + cpu_sys) / cpu_reqs if cpu_reqs else None,
        daemon_sys_share=cpu_sys / (cpu_user + cpu_sys) if cpu_user + cpu_sys else None,
        metric_overhead_mean_ms=metric_sum_us / metric_count / 1000 if metric_count else None,
        metric_overhead_p50_ms=p50,
        metric_overhead_p99_ms=p99,
    )
    ctx.pairs[key] = pair
    return pair


def _delta(a: dict[str, float], b: dict[str, float], key: str) -> float:
    return b.get(key, 0.0) - a.get(key, 0.0)


# ------------------------------------------------------------------------------------------------
# 1. overhead


def section_overhead(ctx: Ctx) -> SectionResult:
    out = SectionResult("overhead")
    for c in (1, 16):
        pair = measure_pair(ctx, c, SMALL_BODY, ctx.duration)
        s = pair.summary()
        out.results[f"c{c}"] = s
        d, x = s["daemon"], s["direct"]
        if pair.daemon.errors or pair.direct.errors:
            out.info[f"c{c}_errors"] = {"daemon": pair.daemon.errors, "direct": pair.direct.errors}
        met50 = met99 = None
        t50 = t99 = ""
        if c == 16:
            met50 = out.target(
                "overhead_p50_c16", f"added p50 ≤ {OVERHEAD_P50_MS} ms", pair.added_ms(50), OVERHEAD_P50_MS
            )
            met99 = out.target(
                "overhead_p99_c16", f"added p99 ≤ {OVERHEAD_P99_MS} ms", pair.added_ms(99), OVERHEAD_P99_MS
            )
            t50, t99 = f"Δ ≤ {OVERHEAD_P50_MS} ms", f"Δ ≤ {OVERHEAD_P99_MS} ms"
        fails = f"  ({d['failed']}/{x['failed']} failed)" if d["failed"] or x["failed"] else ""
        out.rows += [
            Row(
                f"c={c} latency p50 (ms), {SMALL_BODY} B{fails}",
                fmt(d["p50_ms"], 3),
                fmt(x["p50_ms"], 3),
                fmt(s["added_p50_ms"], 3),
                fmt_ratio(s["ratio_p50"]),
                t50,
                met50,
            ),
            Row(
                f"c={c} latency p99 (ms)",
                fmt(d["p99_ms"], 3),
                fmt(x["p99_ms"], 3),
                fmt(s["added_p99_ms"], 3),
                fmt_ratio(s["ratio_p99"]),
                t99,
                met99,
            ),
            Row(
                f"c={c} daemon OverheadLatency p50 / p99 / mean (ms)",
                f"{fmt(s['daemon_metric_overhead_p50_ms'], 3)} / {fmt(s['daemon_metric_overhead_p99_ms'], 3)}"
                f" / {fmt(s['daemon_metric_overhead_mean_ms'], 3)}",
            ),
            Row(
                f"c={c} daemon CPU per request (ms), kernel share",
                f"{fmt(s['daemon_cpu_ms_per_request'], 3)}, {fmt(100 * (s['daemon_cpu_sys_share'] or 0), 0)}%",
            ),
        ]
    return out


# ------------------------------------------------------------------------------------------------
# 2. throughput


def section_throughput(ctx: Ctx) -> SectionResult:
    out = SectionResult("throughput")
    pair = measure_pair(ctx, 16, SMALL_BODY, ctx.duration)
    s = pair.summary()
    d, x = s["daemon"], s["direct"]
    out.results = {
        "concurrency": 16,
        "daemon_rps": d["rps"],
        "direct_rps": x["rps"],
        "ratio": s["throughput_ratio"],
        "daemon_failed": d["failed"],
        "direct_failed": x["failed"],
        "daemon_cpu_ms_per_request": s["daemon_cpu_ms_per_request"],
        "daemon_cpu_sys_share": s["daemon_cpu_sys_share"],
        "client_cpu_pct_daemon_side": d["client_cpu_pct"],
        "client_cpu_pct_direct_side": x["client_cpu_pct"],
    }
    met = out.target(
        "throughput_ratio_c16", f"≥ {THROUGHPUT_RATIO}× direct", pair.throughput_ratio, THROUGHPUT_RATIO, at_most=False
    )
    out.rows.append(
        Row(
            "c=16 requests/s",
            fmt(d["rps"], 0),
            fmt(x["rps"], 0),
            fmt(diff(d["rps"], x["rps"]), 0),
            "—" if pair.throughput_ratio is None else f"{pair.throughput_ratio:.3f}×",
            f"≥ {THROUGHPUT_RATIO}×",
            met,
        )
    )
    out.rows.append(
        Row(
            "load client CPU (% of one core)",
            fmt(d["client_cpu_pct"], 0, "%"),
            fmt(x["client_cpu_pct"], 0, "%"),
        )
    )
    return out


# ------------------------------------------------------------------------------------------------
# 3. payload sweep


def section_payload(ctx: Ctx) -> SectionResult:
    out = SectionResult("payload")
    c = ctx.payload_concurrency
    duration = ctx.duration if ctx.quick else max(5.0, ctx.duration / 3)
    for label, size in PAYLOADS:
        pair = measure_pair(ctx, c, size, duration)
        s = pair.summary()
        d, x = s["daemon"], s["direct"]
        out.results[label] = {
            "concurrency": c,
            "body_bytes": size,
            "daemon_p50_ms": d["p50_ms"],
            "direct_p50_ms": x["p50_ms"],
            "added_p50_ms": s["added_p50_ms"],
            "daemon_p99_ms": d["p99_ms"],
            "direct_p99_ms": x["p99_ms"],
            "added_p99_ms": s["added_p99_ms"],
            "daemon_mb_per_s": d["mb_per_s"],
            "direct_mb_per_s": x["mb_per_s"],
            "throughput_ratio": s["throughput_ratio"],
            "daemon_failed": d["failed"],
            "daemon_metric_overhead_mean_ms": s["daemon_metric_overhead_mean_ms"],
            "daemon_cpu_ms_per_request": s["daemon_cpu_ms_per_request"],
        }
        if pair.daemon.errors or pair.direct.errors:
            out.info[f"{label}_errors"] = {"daemon": pair.daemon.errors, "direct": pair.direct.errors}
        out.rows += [
            Row(
                f"{label} c={c} p50 (ms)",
                fmt(d["p50_ms"], 2),
                fmt(x["p50_ms"], 2),
                fmt(s["added_p50_ms"], 2),
                fmt_ratio(s["ratio_p50"]),
            ),
            Row(
                f"{label} c={c} MB/s (request bytes)",
                fmt(d["mb_per_s"], 2),
                fmt(x["mb_per_s"], 2),
                fmt(diff(d["mb_per_s"], x["mb_per_s"]), 2),
                fmt_ratio(s["throughput_ratio"]),
            ),
        ]
    return out


# ------------------------------------------------------------------------------------------------
# 4. update under load

UNAVAILABLE = "not available yet"


def update_supported(b: Bench) -> tuple[bool, str]:
    """Ask for an update of an endpoint that does not exist: an engine with UpdateEndpoint answers
    ValidationException; one without answers UnknownOperationException. Nothing changes either way."""
    try:
        b.sm.update_endpoint(EndpointName="bench-probe-absent", EndpointConfigName="bench-probe-absent")
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "UnknownOperationException":
            return False, exc.response["Error"].get("Message", code)
        return True, code
    return True, "accepted"


def deployment_config(kind: str, quick: bool) -> dict[str, Any]:
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": 1 if quick else 2}
    if kind == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": 50}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 600,
        }
    }


def section_update(ctx: Ctx) -> SectionResult:
    out = SectionResult("update")
    b = ctx.bench
    ok, why = update_supported(b)
    if not ok:
        out.status = UNAVAILABLE
        out.info = {"reason": why}
        out.rows.append(Row("UpdateEndpoint under load", UNAVAILABLE, target="0 failed, p99 ≤ 1.5×"))
        return out
    steady = 2.0 if ctx.quick else max(5.0, ctx.duration / 4)
    _machine_floor(ctx, out, steady)
    for kind in ("ALL_AT_ONCE", "CANARY"):
        name = f"bench-echo3-{kind.lower().replace('_', '')}"
        instances = 2 if kind == "CANARY" else 1  # a canary needs a fleet it can take a share of
        b.create_model(name, {"ECHO_TAG": name})
        b.create_config(name, name, instances)
        run = LoadRun(
            LoadSpec(
                urls=(b.invoke_url,),
                concurrency=ctx.update_concurrency,
                body_size=SMALL_BODY,
                timeline=True,
                warmup=ctx.warmup,
                credentials=b.daemon.credentials,
            )
        ).start()
        final: dict[str, Any] = {}
        error = None
        try:
            time.sleep(ctx.warmup + steady)
            t_update = time.monotonic()
            ctx.log(f"  UpdateEndpoint {kind} → {name} ({instances} instance(s)) under c={ctx.update_concurrency}")
            if ctx.profile:
                ctx.profile(8.0, f"update-{kind.lower()}")
            try:
                b.sm.update_endpoint(
                    EndpointName=b.endpoint,
                    EndpointConfigName=name,
                    DeploymentConfig=deployment_config(kind, ctx.quick),
                )
                final, t_done = _wait_update(b, t_update)
            except (ClientError, RuntimeError) as exc:
                error = str(exc)
                t_done = time.monotonic()
            time.sleep(1.0)
        finally:
            run.stop()
        res = run.result()
        before = [ms for t, ms, good in res.timeline if t < t_update and good]
        during = [(ms, good) for t, ms, good in res.timeline if t_update <= t <= t_done]
        p99_before = percentile(before, 99)
        p99_during = percentile([ms for ms, good in during if good], 99)
        failed_total = sum(1 for _, _, good in res.timeline if not good)
        failed_during = sum(1 for _, good in during if not good)
        key = kind.lower()
        out.results[key] = {
            "concurrency": ctx.update_concurrency,
            "update_seconds": rnd(t_done - t_update, 3),
            "requests_total": len(res.timeline),
            "failed_total": failed_total,
            "requests_during": len(during),
            "failed_during": failed_during,
            "p99_before_ms": rnd(p99_before, 3),
            "p99_during_ms": rnd(p99_during, 3),
            "p99_ratio": rnd(ratio(p99_during, p99_before), 3),
        }
        out.info[key] = {
            "config": name,
            "final_status": final.get("EndpointStatus"),
            "final_config": final.get("EndpointConfigName"),
            "failure_reason": final.get("FailureReason"),
            "error": error,
            "errors": res.errors,
        }
        if error or final.get("EndpointConfigName") != name:
            out.status = "error"
        met_f = out.target(f"update_{key}_failed", "0 failed requests", float(failed_total), 0)
        met_p = out.target(
            f"update_{key}_p99",
            f"p99 during ≤ {UPDATE_P99_RATIO}× before",
            ratio(p99_during, p99_before),
            UPDATE_P99_RATIO,
        )
        out.rows += [
            Row(
                f"{kind}: failed / total requests ({rnd(t_done - t_update, 1)} s update)",
                f"{failed_total} / {len(res.timeline)}",
                target="0 failed",
                met=met_f,
            ),
            Row(
                f"{kind}: p99 during vs before (ms)",
                fmt(p99_during, 2),
                fmt(p99_before, 2),
                fmt(diff(p99_during, p99_before), 2),
                fmt_ratio(ratio(p99_during, p99_before)),
                f"≤ {UPDATE_P99_RATIO}×",
                met_p,
            ),
        ]
    return out


def _machine_floor(ctx: Ctx, out: SectionResult, steady: float) -> None:
    """The same load while docker starts (and removes) the same three containers by hand, no update:
    how much of the p99 increase during an update the machine itself imposes on 2 shared cores."""
    b = ctx.bench
    run = LoadRun(
        LoadSpec(
            urls=(b.invoke_url,),
            concurrency=ctx.update_concurrency,
            body_size=SMALL_BODY,
            timeline=True,
            warmup=ctx.warmup,
            credentials=b.daemon.credentials,
        )
    ).start()
    try:
        time.sleep(ctx.warmup + steady)
        ctx.log(f"  docker run of 3 echo containers by hand under c={ctx.update_concurrency} (no update)")
        t0 = time.monotonic()
        hand_run(b)
        t1 = time.monotonic()
        time.sleep(1.0)
    finally:
        run.stop()
    res = run.result()
    before = [ms for t, ms, good in res.timeline if t < t0 and good]
    during = [ms for t, ms, good in res.timeline if t0 <= t <= t1 and good]
    p99_before, p99_during = percentile(before, 99), percentile(during, 99)
    out.results["hand_start_no_update"] = {
        "concurrency": ctx.update_concurrency,
        "seconds": rnd(t1 - t0, 3),
        "requests_total": len(res.timeline),
        "failed_total": res.failed,
        "p99_before_ms": rnd(p99_before, 3),
        "p99_during_ms": rnd(p99_during, 3),
        "p99_ratio": rnd(ratio(p99_during, p99_before), 3),
    }
    out.rows.append(
        Row(
            "no update, docker run of 3 containers by hand: p99 during vs before (ms)",
            fmt(p99_during, 2),
            fmt(p99_before, 2),
            fmt(diff(p99_during, p99_before), 2),
            fmt_ratio(ratio(p99_during, p99_before)),
        )
    )


def _wait_update(b: Bench, t_update: float, timeout: float = 300) -> tuple[dict[str, Any], float]:
    """Until the endpoint is InService again after having been Updating (or the call was so fast that
    it never showed). Returns the last description and when it was seen."""
    deadline = t_update + timeout
    seen_updating = False
    while True:
        desc = b.describe()
        now = time.monotonic()
        status = desc["EndpointStatus"]
        if status != "InService":
            seen_updating = True
        if status == "Failed":
            raise RuntimeError(f"endpoint failed during the update: {desc.get('FailureReason')}")
        if status == "InService" and (seen_updating or now - t_update > 5) and not desc.get("PendingDeploymentSummary"):
            return desc, now
        if now > deadline:
            raise RuntimeError(f"update still {status} after {timeout} s")
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------------
# 5. CLI


def awscli(log: Callable[[str], None]) -> tuple[Path | None, str]:
    """The AWS CLI of the test extra (beside this Python), else in its own cached venv
    (bench/.venv-awscli), installed from PyPI on first use."""
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return beside, "test extra"
    venv = BENCH / ".venv-awscli"
    aws = venv / "bin" / "aws"
    if aws.exists():
        return aws, "cached"
    log("  installing awscli into bench/.venv-awscli (once)")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "awscli"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(venv, ignore_errors=True)
        return None, f"could not install awscli: {exc} {detail.decode(errors='replace')[-300:]}".strip()
    return (aws, "installed") if aws.exists() else (None, "pip installed awscli but bin/aws is missing")


def _timed(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    elapsed = (time.perf_counter() - t0) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return elapsed


def section_cli(ctx: Ctx) -> SectionResult:
    out = SectionResult("cli")
    b = ctx.bench
    runs = 3 if ctx.quick else 9
    exe = Path(sys.executable).parent / "inferpipe"
    inferpipe = str(exe) if exe.exists() else (shutil.which("inferpipe") or "inferpipe")
    aws, how = awscli(ctx.log)
    work = tempfile.mkdtemp(prefix="inferpipe-bench-cli-")
    env = dict(b.daemon.env)
    creds = b.daemon.credentials
    env.update(
        AWS_ACCESS_KEY_ID=creds.access_key_id,
        AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
        AWS_DEFAULT_REGION=creds.region,
        AWS_CONFIG_FILE=str(Path(work) / "aws-config"),  # never read the user's files
        AWS_SHARED_CREDENTIALS_FILE=str(Path(work) / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    env.pop("AWS_PROFILE", None)
    commands: dict[str, list[str]] = {
        "python_pass": [sys.executable, "-c", "pass"],
        "inferpipe_invoke": [inferpipe, "invoke", b.endpoint, "--body", "x"],
        "inferpipe_describe": [inferpipe, "describe-endpoint", "--endpoint-name", b.endpoint, "--output", "json"],
        "inferpipe_list": [inferpipe, "list-models", "--output", "json"],
    }
    if aws is not None:
        version = subprocess.run([str(aws), "--version"], capture_output=True, text=True, env=env).stdout.strip()
        out.info["awscli_version"] = version
        # PyPI's awscli is v1: it takes blobs raw and has no --cli-binary-format (a v2 option).
        binary = [] if version.startswith("aws-cli/1.") else ["--cli-binary-format", "raw-in-base64-out"]
        commands["aws_invoke"] = [
            str(aws), "sagemaker-runtime", "invoke-endpoint", "--endpoint-url", b.daemon.url,
            "--endpoint-name", b.endpoint, "--body", "x", *binary, "out.bin",
        ]  # fmt: skip
        commands["aws_describe"] = [
            str(aws), "sagemaker", "describe-endpoint", "--endpoint-url", b.daemon.url,
            "--endpoint-name", b.endpoint, "--output", "json",
        ]  # fmt: skip
        commands["aws_list"] = [
            str(aws), "sagemaker", "list-models", "--endpoint-url", b.daemon.url, "--output", "json",
        ]  # fmt: skip
    else:
        out.skipped += [
            "aws_invoke_ms", "aws_describe_ms", "aws_list_ms", "invoke_vs_aws_ratio", "describe_vs_aws_ratio",
            "list_vs_aws_ratio",
        ]  # fmt: skip
        out.info["awscli"] = how
    times: dict[str, list[float]] = {k: [] for k in commands}
    try:
        for cmd in commands.values():  # warm the page cache; not counted
            _timed(cmd, env, work)
        for _ in range(runs):  # interleaved, so drift spreads over every command alike
            for key, cmd in commands.items():
                times[key].append(_timed(cmd, env, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: median(v) for k, v in times.items()}
    aws_inv, aws_desc = med.get("aws_invoke"), med.get("aws_describe")
    inv_ratio = ratio(med["inferpipe_invoke"], aws_inv)
    desc_ratio = ratio(med["inferpipe_describe"], aws_desc)
    aws_list = med.get("aws_list")
    list_ratio = ratio(med["inferpipe_list"], aws_list)
    out.results = {
        "runs": runs,
        "python_pass_ms": rnd(med["python_pass"], 1),
        "inferpipe_invoke_ms": rnd(med["inferpipe_invoke"], 1),
        "inferpipe_describe_ms": rnd(med["inferpipe_describe"], 1),
        "aws_invoke_ms": rnd(aws_inv, 1),
        "aws_describe_ms": rnd(aws_desc, 1),
        "invoke_vs_aws_ratio": rnd(inv_ratio, 3),
        "describe_vs_aws_ratio": rnd(desc_ratio, 3),
        "inferpipe_list_ms": rnd(med["inferpipe_list"], 1),
        "aws_list_ms": rnd(aws_list, 1),
        "list_vs_aws_ratio": rnd(list_ratio, 3),
        "invoke_minus_python_ms": rnd(diff(med["inferpipe_invoke"], med["python_pass"]), 1),
        "invoke_stdev_ms": rnd(statistics.pstdev(times["inferpipe_invoke"]), 1),
    }
    out.info["awscli"] = how
    out.info["commands"] = {k: " ".join(v) for k, v in commands.items()}
    met = out.target("cli_invoke_vs_aws", f"≤ {CLI_RATIO}× AWS CLI", inv_ratio, CLI_RATIO) if aws else None
    desc_met = out.target("cli_describe_vs_aws", f"≤ {CLI_RATIO}× AWS CLI", desc_ratio, CLI_RATIO) if aws else None
    list_met = out.target("cli_list_vs_aws", f"≤ {CLI_RATIO}× AWS CLI", list_ratio, CLI_RATIO) if aws else None
    base = "AWS CLI" if aws else "AWS CLI (skipped)"
    out.rows += [
        Row(
            f"inferpipe invoke one-shot (ms, median of {runs}) vs {base}",
            fmt(med["inferpipe_invoke"], 0),
            fmt(aws_inv, 0),
            fmt(diff(med["inferpipe_invoke"], aws_inv), 0),
            fmt_ratio(inv_ratio),
            f"≤ {CLI_RATIO}×",
            met,
        ),
        Row(
            f"inferpipe describe-endpoint --output json (ms) vs {base}",
            fmt(med["inferpipe_describe"], 0),
            fmt(aws_desc, 0),
            fmt(diff(med["inferpipe_describe"], aws_desc), 0),
            fmt_ratio(desc_ratio),
            f"≤ {CLI_RATIO}×",
            desc_met,
        ),
        Row(
            f"inferpipe list-models --output json (ms) vs {base}",
            fmt(med["inferpipe_list"], 0),
            fmt(aws_list, 0),
            fmt(diff(med["inferpipe_list"], aws_list), 0),
            fmt_ratio(list_ratio),
            f"≤ {CLI_RATIO}×",
            list_met,
        ),
        Row(
            "inferpipe invoke vs python -c pass (ms)",
            fmt(med["inferpipe_invoke"], 0),
            fmt(med["python_pass"], 0),
            fmt(diff(med["inferpipe_invoke"], med["python_pass"]), 0),
            fmt_ratio(ratio(med["inferpipe_invoke"], med["python_pass"])),
        ),
    ]
    return out


# ------------------------------------------------------------------------------------------------
# 6. cold start


def hand_run(b: Bench, n: int = 3, timeout: float = 60) -> float:
    """What a person would do: docker run the three containers with a published 127.0.0.1 port,
    then poll each /ping until it answers 200. Seconds from the first docker run to the last 200."""
    t0 = time.monotonic()
    with echoes_by_hand(b.run_id, n) as ports:
        wait_pings(ports, timeout)
        return time.monotonic() - t0


def daemon_cold_start(b: Bench, i: int) -> float:
    name = f"bench-cold-{i}"
    t0 = time.monotonic()
    b.create_endpoint(name, b.config)
    try:
        t1 = b.wait_status(name, "InService", timeout=180, poll=0.02)
    finally:
        b.delete_endpoint(name, wait=True)
    return t1 - t0


def section_coldstart(ctx: Ctx) -> SectionResult:
    out = SectionResult("coldstart")
    reps = 1 if ctx.quick else 3
    ours: list[float] = []
    hand: list[float] = []
    for i in range(reps):  # alternate which goes first
        steps: list[tuple[str, Callable[[], float]]] = [
            ("hand", partial(hand_run, ctx.bench)),
            ("daemon", partial(daemon_cold_start, ctx.bench, i)),
        ]
        for side, fn in steps if i % 2 == 0 else reversed(steps):
            ctx.log(f"  cold start {side} #{i + 1}")
            (hand if side == "hand" else ours).append(fn())
    m_ours, m_hand = median(ours), median(hand)
    r = ratio(m_ours, m_hand)
    out.results = {
        "reps": reps,
        "create_to_inservice_s": rnd(m_ours, 3),
        "hand_run_s": rnd(m_hand, 3),
        "added_s": rnd(diff(m_ours, m_hand), 3),
        "ratio": rnd(r, 3),
    }
    out.info = {"daemon_runs_s": [rnd(x, 3) for x in ours], "hand_runs_s": [rnd(x, 3) for x in hand]}
    met = out.target("coldstart_ratio", f"≤ {COLD_RATIO}× hand-run", r, COLD_RATIO)
    out.rows.append(
        Row(
            f"3 containers: create-endpoint → InService vs docker run + /ping (s, median of {reps})",
            fmt(m_ours, 2),
            fmt(m_hand, 2),
            fmt(diff(m_ours, m_hand), 2),
            fmt_ratio(r),
            f"≤ {COLD_RATIO}×",
            met,
        )
    )
    return out


# ------------------------------------------------------------------------------------------------
# 7. data capture


def section_capture(ctx: Ctx) -> SectionResult:
    """c=16 through the same chain with 100 % data capture (input and output, BASE64: the bench's
    bodies are application/octet-stream, the costliest encoding) against the bench endpoint without
    capture, interleaved in rounds (plain, capture, capture, plain)."""
    out = SectionResult("capture")
    b = ctx.bench
    name = "bench-capture"
    dest = Path(tempfile.mkdtemp(prefix="inferpipe-bench-capture-"))
    try:
        b.create_config(
            name,
            b.model,
            DataCaptureConfig={
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": f"file://{dest}",
                "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
            },
        )
        b.create_endpoint(name, name)
        b.wait_status(name, "InService")
        urls = {"plain": (b.invoke_url,), "capture": (f"{b.daemon.url}/endpoints/{name}/invocations",)}
        phases = {"plain": Phase(), "capture": Phase()}
        requests = None if ctx.requests is None else max(1, ctx.requests // ctx.rounds)
        order = [("plain", "capture"), ("capture", "plain")]
        for r in range(ctx.rounds):
            for side in order[r % 2]:
                spec = LoadSpec(
                    urls=urls[side],
                    concurrency=16,
                    body_size=SMALL_BODY,
                    duration=None if requests else ctx.duration / ctx.rounds,
                    requests=requests,
                    warmup=ctx.warmup,
                    credentials=b.daemon.credentials,
                )
                ctx.log(f"  {side:7} c=16 body={SMALL_BODY} B  ({spec.duration or spec.requests})")
                phases[side].add(run_load(spec))
        totals = _capture_totals(b, name)
        time.sleep(1.5)  # the writer's batch window: what was captured is on disk now
        lines = sum(1 for f in dest.rglob("*.jsonl") for _ in f.open("rb"))
    finally:
        b.delete_endpoint(name)
        with contextlib.suppress(ClientError):
            b.sm.delete_endpoint_config(EndpointConfigName=name)
        shutil.rmtree(dest, ignore_errors=True)
    cap, plain = phases["capture"].summary(), phases["plain"].summary()
    r = ratio(cap["rps"], plain["rps"])
    out.results = {
        "concurrency": 16,
        "capture_rps": cap["rps"],
        "plain_rps": plain["rps"],
        "ratio": rnd(r, 3),
        "capture_p99_ms": cap["p99_ms"],
        "plain_p99_ms": plain["p99_ms"],
        "capture_failed": cap["failed"],
        "plain_failed": plain["failed"],
        "captured_records": totals.get("inferpipe_captured_records_total", 0.0),
        "dropped_records": totals.get("inferpipe_capture_dropped_records_total", 0.0),
        "lines_on_disk": lines,
    }
    met = out.target("capture_ratio_c16", f"≥ {CAPTURE_RATIO}× without capture", r, CAPTURE_RATIO, at_most=False)
    out.rows += [
        Row(
            "c=16 requests/s, 100 % capture vs none",
            fmt(cap["rps"], 0),
            fmt(plain["rps"], 0),
            fmt(diff(cap["rps"], plain["rps"]), 0),
            fmt_ratio(rnd(r, 3)),
            f"≥ {CAPTURE_RATIO}×",
            met,
        ),
        Row("c=16 latency p99 (ms)", fmt(cap["p99_ms"], 3), fmt(plain["p99_ms"], 3)),
        Row(
            "records captured / dropped / lines on disk",
            f"{out.results['captured_records']:.0f} / {out.results['dropped_records']:.0f} / {lines}",
        ),
    ]
    return out


def _capture_totals(b: Bench, endpoint: str) -> dict[str, float]:
    text = httpx.get(f"{b.daemon.url}/metrics", timeout=10, auth=b.daemon.auth).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if f'endpoint="{endpoint}"' in line:
            metric, value = line.rsplit(" ", 1)
            out[metric.split("{")[0]] = out.get(metric.split("{")[0], 0.0) + float(value)
    return out


def section_s3transform(ctx: Ctx) -> SectionResult:
    out = SectionResult("s3transform")
    r = measure_s3_transform(ctx.quick, ctx.log)
    out.results = r
    met = out.target(
        "s3_transform_ratio", f"≥ {S3_THROUGHPUT_RATIO}× file → file", r["ratio"], S3_THROUGHPUT_RATIO, at_most=False
    )
    out.rows.append(
        Row(
            f"transform {r['input_mib']:g} MiB: S3 → S3 vs file → file (MiB/s, same job, same daemon)",
            fmt(r["s3_to_s3_mib_s"], 1),
            fmt(r["file_to_file_mib_s"], 1),
            "",
            fmt_ratio(r["ratio"]),
            f"≥ {S3_THROUGHPUT_RATIO}×",
            met,
        )
    )
    out.rows.append(
        Row(
            f"daemon peak RSS during the job of {r['input_mib']:g} MiB: S3 → S3 vs file → file (MiB)",
            fmt(r["daemon_peak_rss_s3_job_mib"], 1),
            fmt(r["daemon_peak_rss_file_job_mib"], 1),
            fmt(diff(r["daemon_peak_rss_s3_job_mib"], r["daemon_peak_rss_file_job_mib"]), 1),
            fmt_ratio(ratio(r["daemon_peak_rss_s3_job_mib"], r["daemon_peak_rss_file_job_mib"])),
        )
    )
    out.rows.append(
        Row(
            "the S3 server alone: GET → multipart upload of the input (s; of it CompleteMultipartUpload)",
            f"{fmt(r['server_copy_s'], 2)} ({fmt(r['server_complete_s'], 2)})",
        )
    )
    out.rows.append(
        Row(
            "best ratio this S3 server allows: file → file s / (that + its CompleteMultipartUpload s)",
            fmt_ratio(r["ratio_bound_by_server"]),
        )
    )
    return out


# ------------------------------------------------------------------------------------------------
# 8. batch transform (bench/transform.py)


def section_transform(ctx: Ctx) -> SectionResult:
    out = SectionResult("transform")
    results = transform.measure(ctx.bench, ctx.quick, ctx.log)
    out.results = {
        key: {k: [rnd(x, 4) for x in v] if isinstance(v, list) else rnd(v, 4) for k, v in r.items()}
        for key, r in results.items()
    }
    multi = [r["throughput_ratio"] for k, r in results.items() if "_multirecord_" in k]
    single = [r["throughput_ratio"] for k, r in results.items() if "_singlerecord_" in k]
    walls = [r["wall_ratio"] for r in results.values()]
    rss = {size: max(r["peak_rss_mb"] for k, r in results.items() if k.startswith(size)) for size in ("small", "large")}
    rss_ratio = ratio(rss["large"], rss["small"])
    out.results["peak_rss_ratio_large_vs_small"] = rnd(rss_ratio, 4)
    t = transform
    met_multi = out.target("transform_multi_throughput", f"MultiRecord ≥ {t.THROUGHPUT_RATIO}× direct (worst case)",
                           min(multi), t.THROUGHPUT_RATIO, at_most=False)  # fmt: skip
    met_single = out.target("transform_single_throughput", f"SingleRecord ≥ {t.THROUGHPUT_RATIO}× direct (worst)",
                            min(single), t.THROUGHPUT_RATIO, at_most=False)  # fmt: skip
    met_wall = out.target("transform_wall", f"job ≤ {t.WALL_RATIO}× by hand (worst case)", max(walls), t.WALL_RATIO)
    met_rss = out.target("transform_rss", f"peak RSS large ≤ {t.RSS_RATIO}× 12 MB", rss_ratio, t.RSS_RATIO)
    for key, r in results.items():
        out.rows.append(
            Row(
                f"transform {key} ({r['input_mb']:.1f} MB): MB/s, job s vs by hand, peak RSS MB",
                f"{fmt(r['mb_per_s'], 1)} MB/s · {fmt(r['job_s'], 2)} s · {fmt(r['peak_rss_mb'], 0)} MB",
                f"{fmt(r['direct_mb_per_s'], 1)} MB/s · {fmt(r['hand_job_s'], 2)} s",
                fmt(r["job_s"] - r["hand_job_s"], 2),
                f"{fmt_ratio(r['throughput_ratio'])} / {fmt_ratio(r['wall_ratio'])}",
            )
        )
    out.rows.append(Row("transform MultiRecord throughput vs direct (worst case)", fmt_ratio(min(multi)),
                        target=f"≥ {t.THROUGHPUT_RATIO}×", met=met_multi))  # fmt: skip
    out.rows.append(Row("transform SingleRecord throughput vs direct (worst case)", fmt_ratio(min(single)),
                        target=f"≥ {t.THROUGHPUT_RATIO}×", met=met_single))  # fmt: skip
    out.rows.append(Row("transform create → Completed vs by hand (worst case)", fmt_ratio(max(walls)),
                        target=f"≤ {t.WALL_RATIO}×", met=met_wall))  # fmt: skip
    out.rows.append(Row("transform daemon peak RSS, large input vs 12 MB", fmt_ratio(rss_ratio),
                        target=f"≤ {t.RSS_RATIO}×", met=met_rss))  # fmt: skip
    return out


# 9. model data from S3 (bench/modeldata.py)


def section_modeldata(ctx: Ctx) -> SectionResult:
    out = SectionResult("modeldata")
    r = measure_model_data(ctx.quick, ctx.log)
    out.results = r
    if r["ratio_net"] is None:  # a small object copies in no more than the CLI's start-up: no ratio
        out.skipped.append("ratio_net")
    out.rows.append(
        Row(
            f"model data {r['object_mib']:g} MiB from S3: CreateEndpoint until cached vs aws s3 cp (s, median"
            f" of {r['repeats']})",
            fmt(r["daemon_download_s"], 3),
            fmt(r["aws_s3_cp_s"], 3),
            fmt(diff(r["daemon_download_s"], r["aws_s3_cp_s"]), 3),
            fmt_ratio(r["ratio"]),
        )
    )
    out.rows.append(
        Row(
            "  the same, the CLI's time less its 1 MiB copy (process start-up, botocore import)",
            fmt(r["daemon_download_s"], 3),
            fmt(r["aws_s3_cp_net_s"], 3),
            fmt(diff(r["daemon_download_s"], r["aws_s3_cp_net_s"]), 3),
            fmt_ratio(r["ratio_net"]),
        )
    )
    return out


RUNNERS: dict[str, Callable[[Ctx], SectionResult]] = {
    "overhead": section_overhead,
    "throughput": section_throughput,
    "payload": section_payload,
    "update": section_update,
    "cli": section_cli,
    "coldstart": section_coldstart,
    "capture": section_capture,
    "otlp": section_otlp,
    "s3transform": section_s3transform,
    "transform": section_transform,
    "modeldata": section_modeldata,
}

assert tuple(RUNNERS) == SECTIONS
