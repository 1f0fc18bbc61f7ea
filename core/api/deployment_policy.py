"""DeploymentConfig (blue/green, rolling, auto-rollback): validation as the service model states it."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.validation import ALARM_NAME_PATTERN, Checker

TRAFFIC_TYPES = ["ALL_AT_ONCE", "CANARY", "LINEAR"]
CAPACITY_TYPES = ["INSTANCE_COUNT", "CAPACITY_PERCENT"]


def _dict(value: Any) -> dict[str, Any]:
    """A member that should be a structure, or {} when it is not (its own check reports that)."""
    return value if isinstance(value, dict) else {}


def _capacity(c: Checker, value: Any, path: str) -> None:
    if not c.structure(value, path) or value is None:
        return
    if c.required(value, "Type", f"{path}.type"):
        c.string(value["Type"], f"{path}.type", enum=CAPACITY_TYPES)
    if c.required(value, "Value", f"{path}.value"):
        c.integer(value["Value"], f"{path}.value", minimum=1)
        if value.get("Type") == "CAPACITY_PERCENT" and isinstance(value["Value"], int) and value["Value"] > 100:
            c.fail(value["Value"], f"{path}.value", "Member must have value less than or equal to 100")


def validate_deployment_config(cfg: dict[str, Any], c: Checker | None = None) -> None:
    own = c is None
    c = c or Checker()
    path = "deploymentConfig"
    bg = cfg.get("BlueGreenUpdatePolicy")
    rolling = cfg.get("RollingUpdatePolicy")
    if bg is not None and rolling is not None:
        c.problem("DeploymentConfig may hold either BlueGreenUpdatePolicy or RollingUpdatePolicy, not both.")
    if c.structure(bg, f"{path}.blueGreenUpdatePolicy") and bg is not None:
        p = f"{path}.blueGreenUpdatePolicy"
        waits = 0
        if c.required(bg, "TrafficRoutingConfiguration", f"{p}.trafficRoutingConfiguration"):
            trc = bg["TrafficRoutingConfiguration"]
            tp = f"{p}.trafficRoutingConfiguration"
            if c.structure(trc, tp):
                if c.required(trc, "Type", f"{tp}.type"):
                    c.string(trc["Type"], f"{tp}.type", enum=TRAFFIC_TYPES)
                if c.required(trc, "WaitIntervalInSeconds", f"{tp}.waitIntervalInSeconds"):
                    c.integer(trc["WaitIntervalInSeconds"], f"{tp}.waitIntervalInSeconds", minimum=0, maximum=3600)
                    if isinstance(trc["WaitIntervalInSeconds"], int):
                        waits += trc["WaitIntervalInSeconds"]
                _capacity(c, trc.get("CanarySize"), f"{tp}.canarySize")
                _capacity(c, trc.get("LinearStepSize"), f"{tp}.linearStepSize")
                if trc.get("Type") == "CANARY" and trc.get("CanarySize") is None:
                    c.problem("CanarySize must be specified when TrafficRoutingConfiguration Type is CANARY.")
                if trc.get("Type") == "LINEAR" and trc.get("LinearStepSize") is None:
                    c.problem("LinearStepSize must be specified when TrafficRoutingConfiguration Type is LINEAR.")
                size = _dict(trc.get("CanarySize"))
                if (
                    trc.get("Type") == "CANARY"
                    and size.get("Type") == "CAPACITY_PERCENT"
                    and (isinstance(size.get("Value"), int) and size["Value"] > 50)
                ):
                    c.problem("CanarySize must be at most 50% of the variant's total instance count.")
                step = _dict(trc.get("LinearStepSize"))
                if (
                    trc.get("Type") == "LINEAR"
                    and step.get("Type") == "CAPACITY_PERCENT"
                    and isinstance(step.get("Value"), int)
                    and not 10 <= step["Value"] <= 50
                ):
                    c.problem("LinearStepSize must be 10% to 50% of the variant's total instance count.")
        c.integer(bg.get("TerminationWaitInSeconds"), f"{p}.terminationWaitInSeconds", minimum=0, maximum=3600)
        timeout = bg.get("MaximumExecutionTimeoutInSeconds")
        c.integer(timeout, f"{p}.maximumExecutionTimeoutInSeconds", minimum=600, maximum=28800)
        term = bg.get("TerminationWaitInSeconds") or 0
        if isinstance(timeout, int) and isinstance(term, int) and timeout <= term + waits:
            c.problem(
                "MaximumExecutionTimeoutInSeconds must be greater than TerminationWaitInSeconds plus the"
                " WaitIntervalInSeconds of the traffic routing configuration."
            )
    if c.structure(rolling, f"{path}.rollingUpdatePolicy") and rolling is not None:
        p = f"{path}.rollingUpdatePolicy"
        if c.required(rolling, "MaximumBatchSize", f"{p}.maximumBatchSize"):
            _capacity(c, rolling["MaximumBatchSize"], f"{p}.maximumBatchSize")
        if c.required(rolling, "WaitIntervalInSeconds", f"{p}.waitIntervalInSeconds"):
            c.integer(rolling["WaitIntervalInSeconds"], f"{p}.waitIntervalInSeconds", minimum=0, maximum=3600)
        c.integer(
            rolling.get("MaximumExecutionTimeoutInSeconds"),
            f"{p}.maximumExecutionTimeoutInSeconds",
            minimum=600,
            maximum=28800,
        )
        _capacity(c, rolling.get("RollbackMaximumBatchSize"), f"{p}.rollbackMaximumBatchSize")
    arc = cfg.get("AutoRollbackConfiguration")
    if c.structure(arc, f"{path}.autoRollbackConfiguration") and arc is not None:
        alarms = arc.get("Alarms")
        ap = f"{path}.autoRollbackConfiguration.alarms"
        if c.sequence(alarms, ap, min_len=1, max_len=10) and alarms is not None:
            for i, alarm in enumerate(alarms, 1):
                # AlarmName is optional in the model, but an alarm is found by its name: required here.
                if (
                    c.structure(alarm, f"{ap}.{i}.member")
                    and alarm is not None
                    and c.required(alarm, "AlarmName", f"{ap}.{i}.member.alarmName")
                ):
                    c.string(
                        alarm["AlarmName"],
                        f"{ap}.{i}.member.alarmName",
                        min_len=1,
                        max_len=255,
                        pattern=ALARM_NAME_PATTERN,
                    )
    if own:
        c.raise_if_any()
