"""Local alarms shaped like CloudWatch's metric alarms, evaluated over the daemon's own endpoint
metrics. Deployment guardrails (AutoRollbackConfiguration) watch them during every bake."""

from __future__ import annotations

import re
import time
from typing import Any

from inferpipe.core.api.validation import ALARM_NAME_PATTERN, Checker
from inferpipe.core.errors import ValidationException
from inferpipe.core.serving.metrics import METRIC_NAMES, Metrics
from inferpipe.core.store import Store

OPERATORS = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
STATISTICS = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]
PERIODS = (10, 30) + tuple(range(60, 86401, 60))
DIMENSIONS = ["EndpointName", "VariantName", "ContainerName"]
MAX_ALARM_NAMES = 100
MAX_EVALUATED_SECONDS = 86400


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
    c.string(req.get("Namespace", "AWS/SageMaker"), "namespace", enum=["AWS/SageMaker"])
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


class Alarms:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    def put(self, req: dict[str, Any]) -> None:
        validate_alarm(req)
        spec = {k: v for k, v in req.items() if v is not None}
        spec.setdefault("Namespace", "AWS/SageMaker")
        self.store.put_alarm(req["AlarmName"], spec)

    def describe(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        out = []
        for a in self.store.alarms():
            spec = a["spec"]
            if names and spec["AlarmName"] not in names:
                continue
            out.append(
                {**spec, "StateValue": a["state"], "StateReason": a["reason"], "StateUpdatedTimestamp": a["updated"]}
            )
        return out

    def delete(self, names: list[str]) -> None:
        self.store.delete_alarms(names)

    def missing(self, names: list[str]) -> list[str]:
        known = {a["spec"]["AlarmName"] for a in self.store.alarms()}
        return [n for n in names if n not in known]

    def evaluate(self, name: str, now: float | None = None) -> tuple[str, str]:
        """(StateValue, reason) of one alarm now. Every evaluated period must breach (N of N);
        periods without data do not breach, as CloudWatch's default missing-data treatment."""
        alarm = next((a for a in self.store.alarms() if a["spec"]["AlarmName"] == name), None)
        if alarm is None:
            raise ValidationException(f"Alarm {name} does not exist: create it with inferpipe put-metric-alarm.")
        spec = alarm["spec"]
        # .get: an alarm stored by an older daemon, which did not check dimensions, must not break
        # every later DescribeAlarms; a dimension without a value matches no metrics.
        dims = {d.get("Name"): d.get("Value") for d in spec.get("Dimensions") or [] if isinstance(d, dict)}
        period = int(spec["Period"])
        stat = spec.get("Statistic") or spec.get("ExtendedStatistic")
        now = time.time() if now is None else now
        values: list[float] = []
        for k in range(int(spec["EvaluationPeriods"])):
            end = now - k * period
            value = self.metrics.statistic_between(
                spec["MetricName"],
                dims.get("EndpointName", ""),
                dims.get("VariantName"),
                stat,
                end - period,
                end,
                container=dims.get("ContainerName"),
            )
            if value is None:
                break
            values.append(value)
        compare = OPERATORS[spec["ComparisonOperator"]]
        threshold = float(spec["Threshold"])
        if len(values) == int(spec["EvaluationPeriods"]) and all(compare(v, threshold) for v in values):
            state = "ALARM"
            reason = (
                f"Threshold Crossed: {len(values)} datapoint(s) [{', '.join(f'{v:g}' for v in values)}] "
                f"{spec['ComparisonOperator']} {threshold:g} ({spec['MetricName']} {stat} over {period} s)."
            )
        else:
            state = "OK" if values else "INSUFFICIENT_DATA"
            reason = f"{spec['MetricName']} {stat}: {values[0]:g}" if values else "No datapoints in the period."
        if state != alarm["state"]:
            self.store.set_alarm_state(name, state, reason)
        return state, reason
