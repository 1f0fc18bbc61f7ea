"""DeploymentConfig (blue/green, rolling, auto-rollback): the member constraints of the service
model (``api.shapes``) and the service's rules beyond them."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.shapes import check_member
from inferpipe.core.api.validation import Checker


def _dict(value: Any) -> dict[str, Any]:
    """A member that should be a structure, or {} when it is not (its own check reports that)."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _percent_at_most_100(c: Checker, value: Any, path: str) -> None:
    size = _dict(value)
    number = _int(size.get("Value"))
    if size.get("Type") == "CAPACITY_PERCENT" and number is not None and number > 100:
        c.fail(number, f"{path}.value", "Member must have value less than or equal to 100")


def validate_deployment_config(cfg: dict[str, Any], c: Checker | None = None) -> None:
    own = c is None
    c = c or Checker()
    path = "deploymentConfig"
    check_member("DeploymentConfig", cfg, path, c)
    bg = cfg.get("BlueGreenUpdatePolicy")
    rolling = cfg.get("RollingUpdatePolicy")
    if bg is not None and rolling is not None:
        c.problem("DeploymentConfig may hold either BlueGreenUpdatePolicy or RollingUpdatePolicy, not both.")
    if isinstance(bg, dict):
        p = f"{path}.blueGreenUpdatePolicy"
        waits = 0
        trc = bg.get("TrafficRoutingConfiguration")
        if isinstance(trc, dict):
            tp = f"{p}.trafficRoutingConfiguration"
            waits += _int(trc.get("WaitIntervalInSeconds")) or 0
            _percent_at_most_100(c, trc.get("CanarySize"), f"{tp}.canarySize")
            _percent_at_most_100(c, trc.get("LinearStepSize"), f"{tp}.linearStepSize")
            if trc.get("Type") == "CANARY" and trc.get("CanarySize") is None:
                c.problem("CanarySize must be specified when TrafficRoutingConfiguration Type is CANARY.")
            if trc.get("Type") == "LINEAR" and trc.get("LinearStepSize") is None:
                c.problem("LinearStepSize must be specified when TrafficRoutingConfiguration Type is LINEAR.")
            size = _dict(trc.get("CanarySize"))
            value = _int(size.get("Value"))
            if (
                trc.get("Type") == "CANARY"
                and size.get("Type") == "CAPACITY_PERCENT"
                and value is not None
                and value > 50
            ):
                c.problem("CanarySize must be at most 50% of the variant's total instance count.")
            step = _dict(trc.get("LinearStepSize"))
            value = _int(step.get("Value"))
            if (
                trc.get("Type") == "LINEAR"
                and step.get("Type") == "CAPACITY_PERCENT"
                and value is not None
                and not 10 <= value <= 50
            ):
                c.problem("LinearStepSize must be 10% to 50% of the variant's total instance count.")
        timeout = _int(bg.get("MaximumExecutionTimeoutInSeconds"))
        term = _int(bg.get("TerminationWaitInSeconds")) or 0
        if timeout is not None and timeout <= term + waits:
            c.problem(
                "MaximumExecutionTimeoutInSeconds must be greater than TerminationWaitInSeconds plus the"
                " WaitIntervalInSeconds of the traffic routing configuration."
            )
    if isinstance(rolling, dict):
        p = f"{path}.rollingUpdatePolicy"
        _percent_at_most_100(c, rolling.get("MaximumBatchSize"), f"{p}.maximumBatchSize")
        _percent_at_most_100(c, rolling.get("RollbackMaximumBatchSize"), f"{p}.rollbackMaximumBatchSize")
    alarms = _dict(cfg.get("AutoRollbackConfiguration")).get("Alarms")
    if isinstance(alarms, list):
        ap = f"{path}.autoRollbackConfiguration.alarms"
        for i, alarm in enumerate(alarms, 1):
            # AlarmName is optional in the model, but an alarm is found by its name: required here.
            if isinstance(alarm, dict):
                c.required(alarm, "AlarmName", f"{ap}.{i}.member.alarmName")
    if own:
        c.raise_if_any()
