"""UpdateEndpoint blue/green under load, guardrails and rollbacks, weights and capacities, apply."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from helpers import echo_containers, teardown, unique
from support import DaemonHandle, wait_endpoint

from inferpipe.core.containers import labels


class Load:
    """Several concurrent clients invoking the endpoint until stopped; records every outcome."""

    def __init__(self, daemon: DaemonHandle, name: str, clients: int = 4) -> None:
        self.url = f"{daemon.url}/endpoints/{name}/invocations"
        self.auth = daemon.auth
        self.results: list[tuple[float, int, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(timeout=70, auth=self.auth) as client:
            while not self._stop.is_set():
                t = time.monotonic()
                try:
                    r = client.post(self.url, content=b"load")
                    self.results.append((t, r.status_code, r.text))
                except httpx.HTTPError as exc:
                    self.results.append((t, 0, repr(exc)))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    @property
    def failures(self) -> list[tuple[float, int, str]]:
        return [r for r in self.results if r[1] != 200]


def raw_describe(daemon: DaemonHandle, name: str) -> dict[str, Any]:
    return httpx.post(
        daemon.url,
        json={"EndpointName": name},
        headers={"X-Amz-Target": "SageMaker.DescribeEndpoint", "Content-Type": "application/x-amz-json-1.1"},
        auth=daemon.auth,
    ).json()


def wait_update_done(sm: Any, name: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sm.describe_endpoint(EndpointName=name)
        if desc["EndpointStatus"] != "Updating":
            return desc
        time.sleep(0.25)
    raise AssertionError(f"{name} still Updating after {timeout} s")


def wait_phase(
    daemon: DaemonHandle, name: str, phase: str, step: str | None = None, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = raw_describe(daemon, name)
        live = desc.get("InferpipeDeployment") or {}
        if live.get("Phase") == phase and (step is None or live.get("Step") == step):
            return desc
        if desc.get("EndpointStatus") != "Updating":
            raise AssertionError(f"deployment ended before {phase}: {desc.get('FailureReason')}")
        time.sleep(0.1)
    raise AssertionError(f"{name} never reached {phase} {step or ''}")


def generations(d: DaemonHandle, name: str) -> set[str]:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label={labels.HOME}={d.home_id}",
            "--filter",
            f"label={labels.OWNER}={name}",
            "--format",
            f'{{{{.Label "{labels.GENERATION}"}}}}',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


@pytest.fixture
def blue_green(sm, echo_image) -> Iterator[str]:  # noqa: ANN001
    """An endpoint on config `<name>-blue` (2 instances) and a ready `<name>-green` config whose
    first container tags its output `v2`."""
    name = unique("bg")
    sm.create_model(ModelName=f"{name}-blue", Containers=echo_containers(echo_image, 2))
    sm.create_model(ModelName=f"{name}-green", Containers=echo_containers(echo_image, 2, {1: {"ECHO_TAG": "v2"}}))
    for color in ("blue", "green"):
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-{color}",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{name}-{color}",
                    "InitialInstanceCount": 2,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-blue")
    wait_endpoint(sm, name)
    yield name
    teardown(sm, name)


def policy(kind: str, wait: int, size: int | None = None, alarms: list[str] | None = None) -> dict[str, Any]:
    trc: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": wait}
    if kind == "CANARY":
        trc["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": size}
    if kind == "LINEAR":
        trc["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": size}
    out: dict[str, Any] = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": trc}}
    if alarms:
        out["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return out


def test_all_at_once_canary_and_linear_updates_lose_no_request(sm, daemon, blue_green):  # noqa: ANN001
    name = blue_green
    with Load(daemon, name) as load:
        time.sleep(0.5)
        # ALL_AT_ONCE (the default policy) blue -> green
        sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-green")
        desc = wait_update_done(sm, name)
        assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == f"{name}-green"
        assert "FailureReason" not in desc and "PendingDeploymentSummary" not in desc
        # CANARY green -> blue: 25% during the canary bake
        sm.update_endpoint(
            # a bake long enough that 200 requests on a loaded machine all land inside it
            EndpointName=name,
            EndpointConfigName=f"{name}-blue",
            DeploymentConfig=policy("CANARY", 15, 25),
        )
        desc = wait_phase(daemon, name, "Baking", "1/2")
        assert desc["EndpointStatus"] == "Updating"
        assert desc["PendingDeploymentSummary"]["EndpointConfigName"] == f"{name}-blue"
        assert desc["PendingDeploymentSummary"]["ProductionVariants"][0]["VariantStatus"][0]["Status"] == "Baking"
        with httpx.Client(auth=daemon.auth) as client:
            bodies = [client.post(f"{daemon.url}/endpoints/{name}/invocations", content=b"s").text for _ in range(200)]
        new_share = sum("|v2@" not in b for b in bodies) / len(bodies)  # blue is the new fleet here
        assert 0.15 <= new_share <= 0.35, f"canary share {new_share:.2f}, configured 25% (tolerance 10 points)"
        desc = wait_update_done(sm, name)
        assert desc["EndpointConfigName"] == f"{name}-blue"
        assert desc["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
        # LINEAR blue -> green in 50% steps
        sm.update_endpoint(
            EndpointName=name, EndpointConfigName=f"{name}-green", DeploymentConfig=policy("LINEAR", 2, 50)
        )
        wait_phase(daemon, name, "Baking", "2/2")
        desc = wait_update_done(sm, name)
        assert desc["EndpointConfigName"] == f"{name}-green"
        time.sleep(0.5)
    assert len(load.results) > 100
    assert load.failures == [], load.failures[:5]
    assert len(generations(daemon, name)) == 1, "only the current fleet's containers remain"
    events = [e["Event"] for e in daemon.cli_json("events", "--name", name)["Events"]]
    assert events.count("UpdateSucceeded") == 3


def test_broken_green_fleet_rolls_back_with_no_failed_request(sm, daemon, blue_green, echo_image):  # noqa: ANN001
    name = blue_green
    sm.create_model(ModelName=f"{name}-broken", Containers=echo_containers(echo_image, 2, {2: {"PING_STATUS": "503"}}))
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-broken",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{name}-broken", "InitialInstanceCount": 1}],
    )
    before = generations(daemon, name)
    with Load(daemon, name) as load:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-broken")
        desc = wait_update_done(sm, name)
    assert desc["EndpointStatus"] == "InService"
    assert desc["EndpointConfigName"] == f"{name}-blue"
    assert "container-2" in desc["FailureReason"] and "ping health check" in desc["FailureReason"]
    assert load.failures == [] and len(load.results) > 20
    assert generations(daemon, name) == before, "no green container left"
    # a later update works and clears the reason
    sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-green")
    desc = wait_update_done(sm, name)
    assert desc["EndpointConfigName"] == f"{name}-green" and "FailureReason" not in desc


def test_alarm_during_bake_rolls_back(sm, daemon, blue_green, echo_image):  # noqa: ANN001
    name = blue_green
    alarm = f"{name}-latency"
    daemon.cli(
        "put-metric-alarm",
        "--alarm-name",
        alarm,
        "--metric-name",
        "ModelLatency",
        "--namespace",
        "AWS/SageMaker",
        "--statistic",
        "Maximum",
        "--period",
        "10",
        "--evaluation-periods",
        "1",
        "--threshold",
        "150000",
        "--comparison-operator",
        "GreaterThanThreshold",
        "--dimensions",
        f"Name=EndpointName,Value={name}",
        check=True,
    )
    sm.create_model(ModelName=f"{name}-slow", Containers=echo_containers(echo_image, 2, {2: {"SLEEP_MS": "300"}}))
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-slow",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{name}-slow", "InitialInstanceCount": 2}],
    )
    with Load(daemon, name) as load:
        time.sleep(11)  # a clean period first, so the alarm is OK when the update starts
        sm.update_endpoint(
            EndpointName=name,
            EndpointConfigName=f"{name}-slow",
            DeploymentConfig=policy("CANARY", 30, 50, alarms=[alarm]),
        )
        desc = wait_update_done(sm, name, timeout=120)
    assert desc["EndpointConfigName"] == f"{name}-blue"
    assert f"Alarm {alarm} went into ALARM" in desc["FailureReason"]
    assert load.failures == []
    assert len(generations(daemon, name)) == 1
    alarms = daemon.cli_json("describe-alarms", "--alarm-names", alarm)["MetricAlarms"]
    assert alarms[0]["AlarmName"] == alarm
    daemon.cli("delete-alarms", "--alarm-names", alarm, check=True)


def test_update_validation(sm, daemon, blue_green):  # noqa: ANN001
    name = blue_green
    with pytest.raises(sm.exceptions.ClientError) as err:
        sm.update_endpoint(EndpointName=name, EndpointConfigName="no-such-config")
    assert err.value.response["Error"]["Message"].startswith('Could not find endpoint configuration "arn:aws:sagemaker')
    with pytest.raises(sm.exceptions.ClientError) as err:
        sm.update_endpoint(
            EndpointName=name, EndpointConfigName=f"{name}-green", DeploymentConfig=policy("CANARY", 5, 80)
        )
    assert "CanarySize" in err.value.response["Error"]["Message"]
    with pytest.raises(sm.exceptions.ClientError) as err:
        sm.update_endpoint(
            EndpointName=name,
            EndpointConfigName=f"{name}-green",
            DeploymentConfig=policy("ALL_AT_ONCE", 0, alarms=["missing-alarm"]),
        )
    assert "missing-alarm" in err.value.response["Error"]["Message"]
    sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-green", DeploymentConfig=policy("LINEAR", 3, 50))
    with pytest.raises(sm.exceptions.ClientError) as err:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-blue")
    assert (
        err.value.response["Error"]["Message"]
        == f'Cannot update in-progress endpoint "{raw_describe(daemon, name)["EndpointArn"]}".'
    )
    wait_update_done(sm, name)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def test_weights_and_capacities(sm, rt, daemon, echo_image):  # noqa: ANN001
    name = unique("scale")
    sm.create_model(ModelName=f"{name}-a", Containers=echo_containers(echo_image, 2, {2: {"ECHO_TAG": "A"}}))
    sm.create_model(ModelName=f"{name}-b", Containers=echo_containers(echo_image, 2, {2: {"ECHO_TAG": "B"}}))
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "a", "ModelName": f"{name}-a", "InitialInstanceCount": 1, "InitialVariantWeight": 1},
            {"VariantName": "b", "ModelName": f"{name}-b", "InitialInstanceCount": 1, "InitialVariantWeight": 0},
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        wait_endpoint(sm, name)
        with Load(daemon, name, clients=2) as load:
            sm.update_endpoint_weights_and_capacities(
                EndpointName=name,
                DesiredWeightsAndCapacities=[
                    {"VariantName": "a", "DesiredWeight": 0, "DesiredInstanceCount": 2},
                    {"VariantName": "b", "DesiredWeight": 1},
                ],
            )
            desc = wait_update_done(sm, name)
            time.sleep(0.5)
        assert load.failures == []
        by = {v["VariantName"]: v for v in desc["ProductionVariants"]}
        assert by["a"]["CurrentInstanceCount"] == 2 and by["a"]["CurrentWeight"] == 0
        assert by["b"]["CurrentWeight"] == 1
        bodies = {
            rt.invoke_endpoint(EndpointName=name, Body=b"w")["Body"].read().decode().split("|")[2][0] for _ in range(10)
        }
        assert bodies == {"B"}
        sm.update_endpoint_weights_and_capacities(
            EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "a", "DesiredInstanceCount": 1}]
        )
        desc = wait_update_done(sm, name)
        assert {v["VariantName"]: v for v in desc["ProductionVariants"]}["a"]["CurrentInstanceCount"] == 1
        assert len(daemon.containers_of(name)) == 2 * 3  # two instances (a and b) of pod + 2 containers
        with pytest.raises(sm.exceptions.ClientError) as err:
            sm.update_endpoint_weights_and_capacities(
                EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "zzz", "DesiredWeight": 1}]
            )
        assert "zzz" in err.value.response["Error"]["Message"]
    finally:
        teardown(sm, name)


def test_sigkill_during_canary_bake_converges(own_daemon, echo_image):  # noqa: ANN001
    d = own_daemon
    sm, rt = d.client(), d.client("sagemaker-runtime")
    name = unique("crash")
    sm.create_model(ModelName=f"{name}-blue", Containers=echo_containers(echo_image, 2))
    sm.create_model(ModelName=f"{name}-green", Containers=echo_containers(echo_image, 2, {1: {"ECHO_TAG": "v2"}}))
    for color in ("blue", "green"):
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-{color}",
            ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": f"{name}-{color}", "InitialInstanceCount": 1}
            ],
        )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-blue")
    wait_endpoint(sm, name)
    blue_gen = generations(d, name)
    sm.update_endpoint(
        EndpointName=name, EndpointConfigName=f"{name}-green", DeploymentConfig=policy("CANARY", 300, 50)
    )
    wait_phase(d, name, "Baking", "1/2")
    assert len(generations(d, name)) == 2
    d.stop(sig=9)
    d.start()
    desc = wait_endpoint(sm, name)
    assert desc["EndpointConfigName"] == f"{name}-blue"
    assert "interrupted by a daemon restart" in desc["FailureReason"]
    deadline = time.monotonic() + 30
    while generations(d, name) != blue_gen and time.monotonic() < deadline:
        time.sleep(0.5)
    assert generations(d, name) == blue_gen, "no orphan container of the green fleet"
    for _ in range(5):
        assert b"|v2@" not in rt.invoke_endpoint(EndpointName=name, Body=b"after")["Body"].read()
    teardown(sm, name)


def test_apply_creates_updates_and_skips(sm, rt, daemon, echo_image, tmp_path):  # noqa: ANN001
    name = unique("apply")
    spec = {
        "model": {"ModelName": name, "Containers": echo_containers(echo_image, 2)},
        "endpointConfig": {
            "EndpointConfigName": name,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1}],
        },
        "endpoint": {"EndpointName": name},
        "deployment": policy("ALL_AT_ONCE", 1),
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec))
    try:
        first = daemon.cli_json("apply", "-f", str(path))
        assert first["Action"] == "created" and first["EndpointConfigName"].startswith(f"{name}-")
        assert daemon.cli_json("apply", "-f", str(path))["Action"] == "unchanged"
        spec["model"]["Containers"][0]["Environment"] = {"ECHO_TAG": "v2"}
        path.write_text(yaml.safe_dump(spec))
        second = daemon.cli_json("apply", "-f", str(path))
        assert second["Action"] == "updated" and second["EndpointConfigName"] != first["EndpointConfigName"]
        assert b"|v2@" in rt.invoke_endpoint(EndpointName=name, Body=b"a")["Body"].read()
        assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == second["EndpointConfigName"]
    finally:
        teardown(sm, name)
