"""Unit tests of the engine's pure parts: traffic steps, routing choice, metrics, alarms, deployment
policy validation, CLI option hoisting (model data: test_modeldata.py, test_archive.py)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from inferpipe.cli.main import hoist_global_options
from inferpipe.core.api.alarm import decode_alarm
from inferpipe.core.api.deployment_policy import validate_deployment_config
from inferpipe.core.errors import ValidationException
from inferpipe.core.serving.alarms import Alarms
from inferpipe.core.serving.blue_green import traffic_steps
from inferpipe.core.serving.metrics import Metrics
from inferpipe.core.serving.router import EndpointRoute, VariantRoute
from inferpipe.core.store import Store


def bg(kind: str, wait: int = 5, size: dict | None = None) -> dict:
    trc: dict = {"Type": kind, "WaitIntervalInSeconds": wait}
    if kind == "CANARY":
        trc["CanarySize"] = size
    if kind == "LINEAR":
        trc["LinearStepSize"] = size
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": trc}}


@pytest.mark.parametrize(
    ("policy", "instances", "shares"),
    [
        (bg("ALL_AT_ONCE"), 2, [1.0]),
        (bg("CANARY", size={"Type": "CAPACITY_PERCENT", "Value": 25}), 4, [0.25, 1.0]),
        (bg("CANARY", size={"Type": "INSTANCE_COUNT", "Value": 1}), 4, [0.25, 1.0]),
        (bg("LINEAR", size={"Type": "CAPACITY_PERCENT", "Value": 50}), 2, [0.5, 1.0]),
        (bg("LINEAR", size={"Type": "INSTANCE_COUNT", "Value": 1}), 3, [1 / 3, 2 / 3, 1.0]),
        (
            {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
                    "WaitIntervalInSeconds": 1,
                }
            },
            4,
            [0.25, 0.5, 0.75, 1.0],
        ),
    ],
)
def test_traffic_steps(policy: dict, instances: int, shares: list[float]) -> None:
    got, _wait = traffic_steps(policy, instances)
    assert got == pytest.approx(shares)


def test_green_share_is_respected_and_target_variant_pins_a_fleet() -> None:
    blue = EndpointRoute("e", "Serial", [VariantRoute("old", 1.0)])
    green = EndpointRoute("e", "Serial", [VariantRoute("new", 1.0)])
    split = EndpointRoute("e", "Serial", blue.variants, green=green, green_share=0.25)
    random.seed(7)
    picks = [split.choose(None) is green for _ in range(4000)]
    assert sum(picks) / len(picks) == pytest.approx(0.25, abs=0.03)
    assert all(split.choose("new") is green for _ in range(50))
    assert all(split.choose("old") is split for _ in range(50))  # the blue side
    assert blue.choose(None) is blue


def test_metrics_statistics_and_prometheus() -> None:
    m = Metrics()
    for us in (100.0, 200.0, 300.0):
        m.record("e", "v", status=200, model_latency_us=us, overhead_us=10.0, containers=[("c1", us)])
    m.record("e", "v", status=500, model_latency_us=None, overhead_us=None, containers=[], model_error=True)
    assert m.statistic("Invocations", "e", "v", "Sum", 60) == 4
    assert m.statistic("Invocation5XXErrors", "e", None, "Sum", 60) == 1
    assert m.statistic("ModelLatency", "e", "v", "Average", 60) == 200
    assert m.statistic("ModelLatency", "e", "v", "Maximum", 60) == 300
    assert m.statistic("ContainerLatency", "e", "v", "SampleCount", 60, container="c1") == 3
    assert m.statistic("ModelLatency", "other", None, "Sum", 60) is None
    now = time.time()
    assert m.statistic_between("Invocations", "e", None, "Sum", now - 3600, now - 3000) is None
    text = m.prometheus()
    assert 'inferpipe_invocations_total{endpoint="e",variant="v"} 4' in text
    assert 'inferpipe_invocation5xx_errors_total{endpoint="e",variant="v"} 1' in text


def test_alarm_evaluation(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    metrics = Metrics()
    alarms = Alarms(store, metrics)
    spec = {
        "AlarmName": "lat",
        "MetricName": "ModelLatency",
        "Statistic": "Maximum",
        "Period": 10,
        "EvaluationPeriods": 1,
        "Threshold": 1000,
        "ComparisonOperator": "GreaterThanThreshold",
        "Dimensions": [{"Name": "EndpointName", "Value": "e"}],
    }
    alarms.put(decode_alarm(spec))
    assert alarms.evaluate("lat")[0] == "INSUFFICIENT_DATA"
    metrics.record("e", "v", status=200, model_latency_us=500, overhead_us=1, containers=[])
    assert alarms.evaluate("lat")[0] == "OK"
    metrics.record("e", "v", status=200, model_latency_us=5000, overhead_us=1, containers=[])
    state, reason = alarms.evaluate("lat")
    assert state == "ALARM" and "Threshold Crossed" in reason
    assert alarms.describe(["lat"])[0]["StateValue"] == "ALARM"
    with pytest.raises(ValidationException):
        decode_alarm({**spec, "Period": 7})
    with pytest.raises(ValidationException):
        decode_alarm({**spec, "MetricName": "CPUUtilization"})
    with pytest.raises(ValidationException):
        decode_alarm({**spec, "Dimensions": []})
    alarms.delete(["lat"])
    assert alarms.describe() == []


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (bg("CANARY"), "CanarySize must be specified"),
        (bg("CANARY", size={"Type": "CAPACITY_PERCENT", "Value": 60}), "at most 50%"),
        (bg("LINEAR", size={"Type": "CAPACITY_PERCENT", "Value": 5}), "10% to 50%"),
        (bg("SOMETIMES"), "enum value set"),
        (bg("ALL_AT_ONCE", wait=4000), "less than or equal to 3600"),
        (
            {
                **bg("ALL_AT_ONCE"),
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 0,
                },
            },
            "not both",
        ),
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 700},
                    "MaximumExecutionTimeoutInSeconds": 600,
                }
            },
            "MaximumExecutionTimeoutInSeconds",
        ),
        ({"AutoRollbackConfiguration": {"Alarms": []}}, "greater than or equal to 1"),
    ],
)
def test_deployment_config_validation(config: dict, fragment: str) -> None:
    with pytest.raises(ValidationException, match="validation error") as err:
        validate_deployment_config(config)
    assert fragment in err.value.message


def test_valid_deployment_config_passes() -> None:
    validate_deployment_config(
        {
            **bg("CANARY", size={"Type": "INSTANCE_COUNT", "Value": 1}),
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}]},
        }
    )


def test_global_options_may_come_anywhere() -> None:
    argv = ["describe-model", "--model-name", "m", "--output", "json", "--query=ModelArn"]
    assert hoist_global_options(argv) == ["--output", "json", "--query=ModelArn", "describe-model", "--model-name", "m"]
