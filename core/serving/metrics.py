"""Endpoint metrics as SageMaker names them, kept in memory in 10-second buckets for an hour.
Design notes: docs/serving.md."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

BUCKET_SECONDS = 10
KEEP_BUCKETS = 360
RESERVOIR = 256

# Data capture's own counters (SageMaker has none): records written, and dropped because the
# capture writer fell behind or its destination failed.
CAPTURED = "CapturedRecords"
CAPTURE_DROPPED = "CaptureDroppedRecords"
COUNTERS = (
    "Invocations",
    "Invocation4XXErrors",
    "Invocation5XXErrors",
    "InvocationModelErrors",
    CAPTURED,
    CAPTURE_DROPPED,
)
LATENCIES = ("ModelLatency", "OverheadLatency")  # microseconds, as CloudWatch reports them
METRIC_NAMES = (*COUNTERS, *LATENCIES, "ContainerLatency")


@dataclass
class Stat:
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if len(self.samples) < RESERVOIR:
            self.samples.append(value)
        else:  # reservoir sampling keeps percentiles honest under load
            j = random.randrange(self.count)
            if j < RESERVOIR:
                self.samples[j] = value

    def merge(self, other: Stat) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.samples.extend(other.samples)


SeriesKey = tuple[str, str, str, str]  # metric, endpoint, variant, container ("" when not per container)


class Metrics:
    def __init__(self) -> None:
        self._buckets: deque[tuple[int, dict[SeriesKey, Stat]]] = deque(maxlen=KEEP_BUCKETS)
        self._lock = threading.Lock()
        self.totals: dict[SeriesKey, float] = {}

    def _bucket(self, now: float) -> dict[SeriesKey, Stat]:
        start = int(now // BUCKET_SECONDS) * BUCKET_SECONDS
        if not self._buckets or self._buckets[-1][0] != start:
            self._buckets.append((start, {}))
        return self._buckets[-1][1]

    def _add(self, bucket: dict[SeriesKey, Stat], key: SeriesKey, value: float) -> None:
        stat = bucket.get(key)
        if stat is None:
            stat = bucket[key] = Stat()
        stat.add(value)
        self.totals[key] = self.totals.get(key, 0.0) + value

    def record(
        self,
        endpoint: str,
        variant: str,
        *,
        status: int,
        model_latency_us: float | None,
        overhead_us: float | None,
        containers: list[tuple[str, float]],
        model_error: bool = False,
    ) -> None:
        with self._lock:
            b = self._bucket(time.time())
            self._add(b, ("Invocations", endpoint, variant, ""), 1)
            self._add(b, ("Invocation4XXErrors", endpoint, variant, ""), 1 if 400 <= status < 500 else 0)
            self._add(b, ("Invocation5XXErrors", endpoint, variant, ""), 1 if status >= 500 else 0)
            self._add(b, ("InvocationModelErrors", endpoint, variant, ""), 1 if model_error else 0)
            if model_latency_us is not None:
                self._add(b, ("ModelLatency", endpoint, variant, ""), model_latency_us)
            if overhead_us is not None:
                self._add(b, ("OverheadLatency", endpoint, variant, ""), overhead_us)
            for hostname, us in containers:
                self._add(b, ("ContainerLatency", endpoint, variant, hostname), us)

    def count(self, metric: str, endpoint: str, variant: str, n: int = 1) -> None:
        with self._lock:
            self._add(self._bucket(time.time()), (metric, endpoint, variant, ""), n)

    def window(self, seconds: float, now: float | None = None) -> dict[SeriesKey, Stat]:
        now = time.time() if now is None else now
        since = now - seconds
        merged: dict[SeriesKey, Stat] = {}
        with self._lock:
            for start, bucket in list(self._buckets):
                if start + BUCKET_SECONDS <= since:
                    continue
                for key, stat in bucket.items():
                    merged.setdefault(key, Stat()).merge(stat)
        return merged

    def statistic(
        self,
        metric: str,
        endpoint: str,
        variant: str | None,
        statistic: str,
        seconds: float,
        container: str | None = None,
    ) -> float | None:
        """A CloudWatch statistic (Sum, Average, Minimum, Maximum, SampleCount, pNN) over the last seconds."""
        now = time.time()
        return self.statistic_between(metric, endpoint, variant, statistic, now - seconds, now, container)

    def statistic_between(
        self,
        metric: str,
        endpoint: str,
        variant: str | None,
        statistic: str,
        start: float,
        end: float,
        container: str | None = None,
    ) -> float | None:
        acc = Stat()
        with self._lock:
            buckets = list(self._buckets)
        for bucket_start, bucket in buckets:
            if bucket_start + BUCKET_SECONDS <= start or bucket_start >= end:
                continue  # 10 s granularity: a bucket counts for every period it overlaps
            for (m, e, v, c), stat in bucket.items():
                if (
                    m == metric
                    and e == endpoint
                    and (variant is None or v == variant)
                    and (container is None or c == container)
                ):
                    acc.merge(stat)
        if acc.count == 0:
            return None
        return summarize(acc, statistic)

    def endpoint_summary(self, endpoint: str, seconds: float = 300) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for (metric, e, variant, container), stat in sorted(self.window(seconds).items()):
            if e != endpoint or stat.count == 0:
                continue
            row: dict[str, object] = {"MetricName": metric, "VariantName": variant}
            if container:
                row["ContainerName"] = container
            if metric in COUNTERS:
                row["Sum"] = stat.total
            else:
                row.update(
                    SampleCount=stat.count,
                    Average=stat.total / stat.count,
                    p50=percentile(stat.samples, 50),
                    p99=percentile(stat.samples, 99),
                    Maximum=stat.maximum,
                )
            rows.append(row)
        return rows

    def prometheus(self) -> str:
        lines: list[str] = []
        with self._lock:
            totals = dict(self.totals)
        for (metric, endpoint, variant, container), value in sorted(totals.items()):
            name = f"inferpipe_{_snake(metric)}"
            name += "_total" if metric in COUNTERS else "_microseconds_sum"
            labels = f'endpoint="{endpoint}",variant="{variant}"'
            if container:
                labels += f',container="{container}"'
            lines.append(f"{name}{{{labels}}} {value}")
        return "\n".join(lines) + "\n"


def percentile(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def summarize(stat: Stat, statistic: str) -> float | None:
    match statistic:
        case "Sum":
            return stat.total
        case "Average":
            return stat.total / stat.count
        case "Minimum":
            return stat.minimum
        case "Maximum":
            return stat.maximum
        case "SampleCount":
            return float(stat.count)
    if statistic.startswith("p"):
        return percentile(stat.samples, float(statistic[1:]))
    raise ValueError(f"unknown statistic {statistic}")


def _snake(name: str) -> str:
    out = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")
    return out.replace("4_x_x", "4xx").replace("5_x_x", "5xx")
