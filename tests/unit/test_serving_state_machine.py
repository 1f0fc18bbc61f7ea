"""The serving state machine (create, blue/green UpdateEndpoint, rollbacks, restarts, healing,
weights and capacities) driven through the real engine over a fake runtime: the production wiring,
store, router and alarms, real HTTP health checks and chain calls to in-process fake containers,
and a clock the test moves instead of waiting.
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_host import EngineHost
from fake_runtime import FakeInstance, FakeRuntime

from inferpipe.core.containers.runtime import Runtime
from inferpipe.core.serving.router import EndpointRoute

IMAGE = "echo:1"
STOP_GRACE = 7.0  # any value: the tests check it is what graceful stops ask for
HOP = re.compile(r"\|([^|@]+)@([^|/]+)/g(\d+)-i(\d+)")


@pytest.fixture
def fake() -> Iterator[FakeRuntime]:
    runtime = FakeRuntime([IMAGE])
    yield runtime
    runtime.close()


@pytest.fixture
def daemon(tmp_path: Path, fake: FakeRuntime) -> Iterator[Callable[[], EngineHost]]:
    """Starts a daemon's engine over the test's home and fake runtime; call again for a restart."""
    hosts: list[EngineHost] = []

    def start() -> EngineHost:
        hosts.append(EngineHost(tmp_path / "home", fake, stop_grace=STOP_GRACE))
        return hosts[-1]

    yield start
    for host in hosts:
        host.close()


@pytest.fixture
def host(daemon: Callable[[], EngineHost]) -> EngineHost:
    random.seed(1234)  # the router's weighted choices, so every run sends the same requests the same way
    return daemon()


# building blocks ------------------------------------------------------------------------------------
def model(host: EngineHost, name: str, n: int = 2, env: dict[int, dict[str, str]] | None = None) -> None:
    containers = [{"Image": IMAGE, "Environment": (env or {}).get(i, {})} for i in range(1, n + 1)]
    host.op("CreateModel", ModelName=name, Containers=containers)


def config(host: EngineHost, name: str, *variants: tuple[str, str, int, float]) -> None:
    host.op(
        "CreateEndpointConfig",
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": v, "ModelName": m, "InitialInstanceCount": n, "InitialVariantWeight": w}
            for v, m, n, w in variants
        ],
    )


def blue_green(
    host: EngineHost, name: str, instances: int = 2, green_env: dict[int, dict[str, str]] | None = None
) -> None:
    """An InService endpoint on `<name>-blue` and a ready `<name>-green` config whose first container
    tags its output v2."""
    model(host, f"{name}-blue")
    model(host, f"{name}-green", env={1: {"ECHO_TAG": "v2"}, **(green_env or {})})
    config(host, f"{name}-blue", ("AllTraffic", f"{name}-blue", instances, 1.0))
    config(host, f"{name}-green", ("AllTraffic", f"{name}-green", instances, 1.0))
    host.op("CreateEndpoint", EndpointName=name, EndpointConfigName=f"{name}-blue")
    host.wait_status(name, "InService")


def bg_policy(kind: str, wait: int, size: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    trc: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": wait}
    if kind == "CANARY":
        trc["CanarySize"] = size
    if kind == "LINEAR":
        trc["LinearStepSize"] = size
    alarms = extra.pop("alarms", None)
    out: dict[str, Any] = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": trc, **extra}}
    if alarms:
        out["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return out


def hops(body: str) -> list[tuple[str, str, int, int]]:
    """(tag, variant, generation, instance index) of every container a response went through."""
    return [(t, v, int(g), int(i)) for t, v, g, i in HOP.findall(body)]


def served_by(host: EngineHost, name: str, n: int) -> list[tuple[str, int, int]]:
    """(variant, generation, instance) serving each of n requests; each request must have run
    entirely on one instance of one fleet."""
    out = []
    for k in range(n):
        chain = hops(host.invoke(name, f"r{k}".encode()))
        assert len(chain) >= 1 and len({(v, g, i) for _, v, g, i in chain}) == 1, chain
        out.append(chain[0][1:])
    return out


def shape(fake: FakeRuntime, owner: str) -> dict[tuple[str, int], list[int]]:
    """(variant, generation) -> instance indexes the runtime holds for an owner; every instance
    must be whole (holder and containers running), so nothing half-removed or orphaned hides."""
    out: dict[tuple[str, int], list[int]] = {}
    for inst in fake.live(owner):
        assert inst.complete, f"instance {inst.label} is not whole"
        out.setdefault((inst.variant, inst.generation), []).append(inst.index)
    return out


def record_routes(host: EngineHost) -> list[EndpointRoute]:
    """Every routing table the engine installs, in order."""
    installed: list[EndpointRoute] = []
    router = host.engine.router
    real = router.install

    def install(route: EndpointRoute) -> None:
        installed.append(route)
        real(route)

    router.install = install  # type: ignore[method-assign]
    return installed


def generation_of(route: EndpointRoute) -> set[int]:
    return {v.fleet.generation for v in route.variants if v.fleet is not None}


def test_the_fake_has_every_runtime_method_with_the_same_parameters() -> None:
    for name, member in inspect.getmembers(Runtime, inspect.isfunction):
        if name.startswith("_"):
            continue
        want = list(inspect.signature(member).parameters)
        assert list(inspect.signature(getattr(FakeRuntime, name)).parameters) == want, name


# create and delete -----------------------------------------------------------------------------
def test_create_serves_through_the_whole_chain_and_delete_leaves_nothing(host: EngineHost, fake: FakeRuntime) -> None:
    model(host, "m", n=3)
    config(host, "c", ("AllTraffic", "m", 2, 1.0))
    host.op("CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    desc = host.wait_status("e", "InService")
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert shape(fake, "e") == {("AllTraffic", 1): [1, 2]}
    assert all(inst.promoted for inst in fake.live("e"))
    chain = hops(host.invoke("e", b"hello"))
    assert [tag for tag, *_ in chain] == ["container-1", "container-2", "container-3"]
    assert len({hop[1:] for hop in chain}) == 1, "the whole chain ran on one instance"
    assert {s[2] for s in served_by(host, "e", 4)} == {1, 2}, "round robin over both instances"

    host.op("DeleteEndpoint", EndpointName="e")
    host.wait_gone("e")
    assert fake.live() == []
    # both instances stopped together, with the configured grace
    assert fake.stops[-1].timeout == STOP_GRACE
    assert sorted(fake.stops[-1].instances) == ["AllTraffic/g1-i1", "AllTraffic/g1-i2"]
    assert "e" not in host.engine.router.routes


@pytest.mark.parametrize(
    ("env", "missing_image", "reason"),
    [
        ({}, True, "is not present in the local Docker engine"),
        ({2: {"EXIT_AT_START": "3"}}, False, "Container container-2 of production variant AllTraffic exited during"),
    ],
    ids=["missing-image", "exits-at-start"],
)
def test_a_fleet_that_cannot_start_fails_the_endpoint_and_leaves_nothing(
    host: EngineHost, fake: FakeRuntime, env: dict[int, dict[str, str]], missing_image: bool, reason: str
) -> None:
    model(host, "m", env=env)
    config(host, "c", ("AllTraffic", "m", 2, 1.0))
    if missing_image:
        fake.remove_image(IMAGE)
    host.op("CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    desc = host.wait_status("e", "Failed")
    assert reason in desc["FailureReason"]
    assert fake.live() == []


# blue/green UpdateEndpoint ---------------------------------------------------------------------------
PCT = "CAPACITY_PERCENT"


@pytest.mark.parametrize(
    ("policy", "instances", "shares"),
    [
        (bg_policy("ALL_AT_ONCE", 60), 2, [1.0]),
        (bg_policy("CANARY", 60, {"Type": PCT, "Value": 25}), 2, [0.25, 1.0]),
        (bg_policy("LINEAR", 60, {"Type": PCT, "Value": 50}), 2, [0.5, 1.0]),
        (bg_policy("LINEAR", 60, {"Type": "INSTANCE_COUNT", "Value": 1}), 3, [1 / 3, 2 / 3, 1.0]),
    ],
    ids=["all-at-once", "canary-25", "linear-50", "linear-1-of-3"],
)
def test_update_shifts_traffic_step_by_step_then_removes_blue(
    host: EngineHost, fake: FakeRuntime, policy: dict[str, Any], instances: int, shares: list[float]
) -> None:
    blue_green(host, "e", instances)
    routes = record_routes(host)
    host.op("UpdateEndpoint", EndpointName="e", EndpointConfigName="e-green", DeploymentConfig=policy)
    n = len(shares)
    for step, share in enumerate(shares, 1):
        host.wait_phase("e", "Baking", f"{step}/{n}")
        route = host.read(lambda: host.engine.router.routes["e"])
        assert route.green is not None and route.green_share == pytest.approx(share)
        assert generation_of(route) == {1} and generation_of(route.green) == {2}
        assert host.status("e") == "Updating"
        # the bake does not end by itself: only moving the clock past it does
        assert host.phase("e") == ("Baking", f"{step}/{n}")
        fleets = [g for _, g, _ in served_by(host, "e", 60)]
        if share < 1:
            assert 1 in fleets and 2 in fleets, f"both fleets serve at {share:.0%}"
        else:
            assert set(fleets) == {2}
        assert sorted(shape(fake, "e")) == [("AllTraffic", 1), ("AllTraffic", 2)], "blue and green side by side"
        host.clock.advance(60)
    desc = host.wait_status("e", "InService")
    assert desc["EndpointConfigName"] == "e-green" and "FailureReason" not in desc
    assert "PendingDeploymentSummary" not in desc
    assert [r.green_share for r in routes if r.green is not None] == pytest.approx(shares)
    final = host.read(lambda: host.engine.router.routes["e"])
    assert final.green is None and generation_of(final) == {2}
    assert shape(fake, "e") == {("AllTraffic", 2): list(range(1, instances + 1))}
    blue_stop = fake.stops[-1]  # blue retired in one call, gracefully
    assert sorted(blue_stop.instances) == [f"AllTraffic/g1-i{i}" for i in range(1, instances + 1)]
    assert blue_stop.timeout == STOP_GRACE
    assert {tag for tag, *_ in hops(host.invoke("e"))} == {"v2", "container-2"}


def test_alarm_during_bake_rolls_back_to_blue(host: EngineHost, fake: FakeRuntime) -> None:
    blue_green(host, "e")
    host.op(
        "Inferpipe.PutMetricAlarm",
        AlarmName="e-latency",
        MetricName="ModelLatency",
        Namespace="AWS/SageMaker",
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=150000,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "EndpointName", "Value": "e"}],
    )
    policy = bg_policy("CANARY", 60, {"Type": PCT, "Value": 50}, alarms=["e-latency"])
    host.op("UpdateEndpoint", EndpointName="e", EndpointConfigName="e-green", DeploymentConfig=policy)
    host.wait_phase("e", "Baking", "1/2")
    host.until(lambda: "e-latency" in host.engine.deployments.live["e"].get("Alarms", {}), "alarm evaluated")
    assert host.read(lambda: host.engine.deployments.live["e"]["Alarms"]["e-latency"]) != "ALARM"
    assert host.status("e") == "Updating"
    # slow answers arrive: the next evaluation during the bake finds the alarm breached
    for _ in range(3):
        host.engine.metrics.record(
            "e", "AllTraffic", status=200, model_latency_us=400_000, overhead_us=50, containers=[]
        )
    desc = host.wait_status("e", "InService")
    assert desc["EndpointConfigName"] == "e-blue"
    assert "Alarm e-latency went into ALARM" in desc["FailureReason"]
    assert shape(fake, "e") == {("AllTraffic", 1): [1, 2]}, "green removed, blue untouched"
    route = host.read(lambda: host.engine.router.routes["e"])
    assert route.green is None and generation_of(route) == {1}
    assert {g for _, g, _ in served_by(host, "e", 10)} == {1}


def test_maximum_execution_timeout_rolls_back(host: EngineHost, fake: FakeRuntime) -> None:
    blue_green(host, "e")
    policy = bg_policy("CANARY", 300, {"Type": PCT, "Value": 50}, MaximumExecutionTimeoutInSeconds=600)
    host.op("UpdateEndpoint", EndpointName="e", EndpointConfigName="e-green", DeploymentConfig=policy)
    host.wait_phase("e", "Baking", "1/2")
    host.clock.advance(601)
    desc = host.wait_status("e", "InService")
    assert desc["EndpointConfigName"] == "e-blue"
    assert "exceeded MaximumExecutionTimeoutInSeconds" in desc["FailureReason"]
    assert shape(fake, "e") == {("AllTraffic", 1): [1, 2]}
    assert host.read(lambda: host.engine.router.routes["e"].green) is None


def test_green_fleet_that_never_gets_healthy_rolls_back(host: EngineHost, fake: FakeRuntime) -> None:
    blue_green(host, "e", green_env={2: {"PING_STATUS": "503"}})
    host.op("UpdateEndpoint", EndpointName="e", EndpointConfigName="e-green")

    def green_pinged() -> bool:
        return any(c.pings for i in fake.live("e") if i.generation == 2 for c in i.containers)

    host.until(green_pinged, "green fleet health-checked")
    assert host.phase("e") == ("Creating", None)
    assert {g for _, g, _ in served_by(host, "e", 5)} == {1}, "blue serves while green starts"
    host.clock.advance(241)  # past the default 240 s start-up window
    desc = host.wait_status("e", "InService")
    assert desc["EndpointConfigName"] == "e-blue"
    assert "container-2" in desc["FailureReason"] and "did not pass the ping health check" in desc["FailureReason"]
    assert shape(fake, "e") == {("AllTraffic", 1): [1, 2]}, "green's instances removed"
    assert {g for _, g, _ in served_by(host, "e", 5)} == {1}
    # a later update works and clears the reason
    host.op("UpdateEndpoint", EndpointName="e", EndpointConfigName="e-blue")
    desc = host.wait_status("e", "InService")
    assert "FailureReason" not in desc


# a daemon restart in the middle of an update ----------------------------------------------------------
STAGES = ["Creating", "Baking 1/2", "Baking 2/2", "TerminationWait", "RollingBack", "Terminating"]


def drive_to(host: EngineHost, fake: FakeRuntime, stage: str) -> None:
    """Run an update (CANARY 50 %, 60 s bakes, 60 s termination wait) up to `stage`."""
    policy = bg_policy(
        "CANARY", 60, {"Type": PCT, "Value": 50}, TerminationWaitInSeconds=60, MaximumExecutionTimeoutInSeconds=600
    )
    host.op("UpdateEndpoint", EndpointName="e", EndpointConfigName="e-green", DeploymentConfig=policy)
    if stage == "Creating":  # green's second container never answers its pings
        host.until(lambda: any(c.pings for i in fake.live("e") if i.generation == 2 for c in i.containers), "pings")
        return
    host.wait_phase("e", "Baking", "1/2")
    if stage == "Baking 1/2":
        return
    if stage == "RollingBack":  # the deadline passes; the rollback is stuck removing green
        gate = fake.hold_next("stop")
        host.clock.advance(601)
        assert gate.reached.wait(10)
        assert host.phase("e")[0] == "RollingBack"
        return
    host.clock.advance(60)
    host.wait_phase("e", "Baking", "2/2")
    if stage == "Baking 2/2":
        return
    host.clock.advance(60)
    host.wait_phase("e", "TerminationWait")
    if stage == "TerminationWait":
        return
    gate = fake.hold_next("stop")  # blue is being removed when the daemon dies
    host.clock.advance(60)
    assert gate.reached.wait(10)
    assert host.phase("e")[0] == "Terminating"


@pytest.mark.parametrize("stage", STAGES)
def test_restart_at_any_stage_of_an_update_converges(
    daemon: Callable[[], EngineHost], fake: FakeRuntime, stage: str
) -> None:
    first = daemon()
    green_env = {2: {"PING_STATUS": "503"}} if stage == "Creating" else None
    blue_green(first, "e", green_env=green_env)
    drive_to(first, fake, stage)
    assert len({i.generation for i in fake.live("e")}) == 2, "blue and green both exist when the daemon dies"
    first.crash()

    second = daemon()  # a new daemon over the same home and the containers that survived
    desc = second.wait_status("e", "InService")
    forward = stage == "Terminating"  # past the point of no return the update finishes
    generation = 2 if forward else 1
    assert desc["EndpointConfigName"] == ("e-green" if forward else "e-blue")
    if forward:
        assert "FailureReason" not in desc
    else:
        assert "interrupted by a daemon restart" in desc["FailureReason"]
    assert "PendingDeploymentSummary" not in desc
    second.until(lambda: len(fake.live("e")) == 2, "one fleet of two instances left")
    assert shape(fake, "e") == {("AllTraffic", generation): [1, 2]}, "no duplicate, no orphan"
    assert {g for _, g, _ in served_by(second, "e", 6)} == {generation}
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    # and it can be updated again
    second.op("UpdateEndpoint", EndpointName="e", EndpointConfigName="e-blue" if forward else "e-green")
    if stage == "Creating":  # green still never gets healthy: rolled back again
        second.until(lambda: any(c.pings for i in fake.live("e") if i.generation == 3 for c in i.containers), "pings")
        second.clock.advance(241)
        assert second.wait_status("e", "InService")["EndpointConfigName"] == "e-blue"
    else:
        assert second.wait_status("e", "InService")["EndpointConfigName"] == ("e-blue" if forward else "e-green")


def test_restart_while_deleting_finishes_the_delete(daemon: Callable[[], EngineHost], fake: FakeRuntime) -> None:
    first = daemon()
    model(first, "m")
    config(first, "c", ("AllTraffic", "m", 2, 1.0))
    first.op("CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    first.wait_status("e", "InService")
    gate = fake.hold_next("stop")
    first.op("DeleteEndpoint", EndpointName="e")
    assert gate.reached.wait(10)
    first.crash()
    second = daemon()
    second.wait_gone("e")
    assert fake.live("e") == []


# instance health ---------------------------------------------------------------------------------------
def test_dead_container_takes_its_instance_out_of_rotation_and_it_is_replaced(
    host: EngineHost, fake: FakeRuntime
) -> None:
    model(host, "m", n=3)
    config(host, "c", ("AllTraffic", "m", 2, 1.0))
    host.op("CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    host.wait_status("e", "InService")
    victim: FakeInstance = fake.live("e")[0]
    start = fake.hold_next("start")  # the replacement waits until the test has looked
    fake.kill(victim.containers[1].container_id)
    assert start.reached.wait(10), "a replacement is being started"
    fleet = host.read(lambda: host.engine.endpoints.fleets["e"]["AllTraffic"])
    assert [i.handle.index for i in host.read(fleet.healthy_instances)] == [2]
    assert {i for *_, i in served_by(host, "e", 6)} == {2}, "only the surviving instance serves"
    assert victim.pod_id not in {i.pod_id for i in fake.live("e")}, "the dead instance was removed"
    assert fake.stops[-1].instances == (victim.label,) and fake.stops[-1].timeout == 0
    start.release()
    host.until(lambda: len(fleet.healthy_instances()) == 2, "replacement in rotation")
    assert shape(fake, "e") == {("AllTraffic", 1): [2, 3]}
    assert {i for *_, i in served_by(host, "e", 6)} == {2, 3}
    events = [e["Event"] for e in host.read(lambda: host.engine.store.events("endpoint", "e"))]
    assert "InstanceReplaced" in events


# UpdateEndpointWeightsAndCapacities --------------------------------------------------------------------
def test_weights_and_capacities_are_applied(host: EngineHost, fake: FakeRuntime) -> None:
    model(host, "ma", env={2: {"ECHO_TAG": "A"}})
    model(host, "mb", env={2: {"ECHO_TAG": "B"}})
    config(host, "c", ("a", "ma", 1, 1.0), ("b", "mb", 1, 0.0))
    host.op("CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    host.wait_status("e", "InService")
    assert {v for v, _, _ in served_by(host, "e", 5)} == {"a"}
    host.op(
        "UpdateEndpointWeightsAndCapacities",
        EndpointName="e",
        DesiredWeightsAndCapacities=[
            {"VariantName": "a", "DesiredWeight": 0, "DesiredInstanceCount": 2},
            {"VariantName": "b", "DesiredWeight": 1},
        ],
    )
    desc = host.wait_status("e", "InService")
    by = {v["VariantName"]: v for v in desc["ProductionVariants"]}
    assert (by["a"]["CurrentWeight"], by["a"]["CurrentInstanceCount"]) == (0, 2)
    assert (by["b"]["CurrentWeight"], by["b"]["CurrentInstanceCount"]) == (1, 1)
    assert shape(fake, "e") == {("a", 1): [1, 2], ("b", 1): [1]}
    assert {v for v, _, _ in served_by(host, "e", 8)} == {"b"}
    assert {tag for tag, *_ in hops(host.invoke("e"))} == {"container-1", "B"}

    host.op(
        "UpdateEndpointWeightsAndCapacities",
        EndpointName="e",
        DesiredWeightsAndCapacities=[{"VariantName": "a", "DesiredWeight": 1, "DesiredInstanceCount": 1}],
    )
    desc = host.wait_status("e", "InService")
    assert {v["VariantName"]: v["CurrentInstanceCount"] for v in desc["ProductionVariants"]} == {"a": 1, "b": 1}
    assert shape(fake, "e") == {("a", 1): [1], ("b", 1): [1]}
    assert fake.stops[-1] == type(fake.stops[-1])(("a/g1-i2",), STOP_GRACE), "the surplus instance, gracefully"
    assert {v for v, _, _ in served_by(host, "e", 40)} == {"a", "b"}
