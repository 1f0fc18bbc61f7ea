"""Local alarms shaped like CloudWatch's metric alarms, evaluated over the daemon's own endpoint
metrics. Deployment guardrails (AutoRollbackConfiguration) watch them during every bake."""

from __future__ import annotations

import time
from typing import Any

from inferpipe.core.errors import ValidationException
from inferpipe.core.serving.metrics import Metrics
from inferpipe.core.serving.specs import AlarmSpec
from inferpipe.core.store import Store

OPERATORS = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


class Alarms:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    def put(self, alarm: AlarmSpec) -> None:
        self.store.put_alarm(alarm.name, alarm.definition)

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
        alarm = next(iter(self.store.alarms(name)), None)
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
