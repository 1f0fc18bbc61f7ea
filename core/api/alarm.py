"""Inferpipe.PutMetricAlarm, DescribeAlarms and DeleteAlarms requests: CloudWatch's metric-alarm
constraints checked, every violation at once, and the alarm decoded into the spec serving stores."""

from __future__ import annotations

import re
from typing import Any

from inferpipe.core.api.validation import ALARM_NAME_PATTERN, Checker
from inferpipe.core.serving.alarms import OPERATORS
from inferpipe.core.serving.metrics import METRIC_NAMES
from inferpipe.core.serving.specs import AlarmSpec

STATISTICS = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]
PERIODS = (10, 30) + tuple(range(60, 86401, 60))
DIMENSIONS = ["EndpointName", "VariantName", "ContainerName"]
MAX_ALARM_NAMES = 100
MAX_EVALUATED_SECONDS = 86400
NAMESPACE = "AWS/SageMaker"


def check_alarm_names(c: Checker, names: Any, path: str = "alarmNames") -> None:
    if c.sequence(names, path, max_len=MAX_ALARM_NAMES) and names is not None:
        for i, name in enumerate(names, 1):
            c.string(name, f"{path}.{i}.member", min_len=1, max_len=255)


def _is_percentile(stat: Any) -> bool:
    """p0 to p100, as CloudWatch's ExtendedStatistic (up to ten decimals)."""
    return isinstance(stat, str) and re.fullmatch(r"p(100(\.0{1,10})?|\d{1,2}(\.\d{1,10})?)", stat) is not None


def validate_alarm(req: dict[str, Any]) -> None:
    c = Checker()
    if c.required(req, "AlarmName", "alarmName"):
        c.string(req["AlarmName"], "alarmName", min_len=1, max_len=255, pattern=ALARM_NAME_PATTERN)
    if c.required(req, "MetricName", "metricName"):
        c.string(req["MetricName"], "metricName", enum=list(METRIC_NAMES))
    c.string(req.get("Namespace", NAMESPACE), "namespace", enum=[NAMESPACE])
    stat = req.get("Statistic") or req.get("ExtendedStatistic")
    if stat is None:
        c.problem("One of Statistic or ExtendedStatistic (e.g. p99) must be specified.")
    elif not (stat in STATISTICS or _is_percentile(stat)):
        c.fail(stat, "statistic", f"Member must satisfy enum value set: [{', '.join(STATISTICS)}] or be pNN")
    period_ok = c.required(req, "Period", "period") and c.integer(req["Period"], "period", minimum=10)
    if period_ok and req["Period"] not in PERIODS:
        c.fail(req["Period"], "period", "Member must be 10, 30 or a multiple of 60")
    if (
        c.required(req, "EvaluationPeriods", "evaluationPeriods")
        and c.integer(req["EvaluationPeriods"], "evaluationPeriods", minimum=1)
        and period_ok
        and req["Period"] * req["EvaluationPeriods"] > MAX_EVALUATED_SECONDS
    ):
        c.rule(
            f"Period ({req['Period']} s) times EvaluationPeriods ({req['EvaluationPeriods']}) must not exceed"
            f" {MAX_EVALUATED_SECONDS} seconds (one day)."
        )
    if c.required(req, "Threshold", "threshold"):
        c.number(req["Threshold"], "threshold")
    if c.required(req, "ComparisonOperator", "comparisonOperator"):
        c.string(req["ComparisonOperator"], "comparisonOperator", enum=list(OPERATORS))
    dims = req.get("Dimensions") or []
    if c.sequence(dims, "dimensions", max_len=10):
        for i, d in enumerate(dims, 1):
            p = f"dimensions.{i}.member"
            if not c.structure(d, p) or d is None:
                continue
            if c.required(d, "Name", f"{p}.name"):
                c.string(d["Name"], f"{p}.name", enum=DIMENSIONS)
            if c.required(d, "Value", f"{p}.value"):
                c.string(d["Value"], f"{p}.value", min_len=1, max_len=1024)
        if "EndpointName" not in [d.get("Name") for d in dims if isinstance(d, dict)]:
            c.problem("Dimensions must include Name=EndpointName: alarms watch one endpoint's metrics.")
    c.raise_if_any()


def decode_alarm(req: dict[str, Any]) -> AlarmSpec:
    validate_alarm(req)
    definition = {k: v for k, v in req.items() if v is not None}
    definition.setdefault("Namespace", NAMESPACE)
    return AlarmSpec(name=req["AlarmName"], definition=definition)
