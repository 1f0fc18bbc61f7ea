"""The serving plans (re-adoption after a daemon restart, interrupted updates, scaling) decided
from plain data: stored endpoint state and the instance handles a runtime would report."""

from __future__ import annotations

import pytest

from inferpipe.core.containers.runtime import InstanceHandle
from inferpipe.core.serving.plan import (
    FleetPlan,
    Recovery,
    StopReason,
    StoredEndpoint,
    UpdateOutcome,
    plan_adoption,
    plan_endpoint,
    plan_scale,
    resolve_interrupted_update,
)
from inferpipe.core.serving.state import Deployment, DeploymentPhase, EndpointState, EndpointStatus, VariantState


def config(name: str, *variants: tuple[str, int]) -> dict:
    return {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {"VariantName": v, "ModelName": "m", "InitialInstanceCount": n, "InitialVariantWeight": 1.0}
            for v, n in variants
        ],
    }


def variant(name: str, count: int, generation: int | None) -> VariantState:
    return VariantState(name, count, 1.0, 1.0, generation)


def state(*variants: tuple[str, int, int | None], update: Deployment | None = None) -> EndpointState:
    return EndpointState(
        config=config("blue", *((v, n) for v, n, _ in variants)),
        models={"m": {"ModelName": "m"}},
        variants=[variant(v, n, g) for v, n, g in variants],
        next_generation=3,
        update=update,
    )


def deployment(phase: DeploymentPhase, generation: int | None = 2) -> Deployment:
    return Deployment(
        config=config("green", ("AllTraffic", 2)),
        models={"m2": {"ModelName": "m2"}},
        variants=[variant("AllTraffic", 2, None)],
        policy={"BlueGreenUpdatePolicy": {}},
        requested_policy={"BlueGreenUpdatePolicy": {"TerminationWaitInSeconds": 60}},
        start_time=1.0,
        phase=phase,
        generation=generation,
    )


def handle(generation: int, index: int, variant: str = "AllTraffic", owner: str = "e", pod: str = "") -> InstanceHandle:
    return InstanceHandle(
        "endpoint", owner, variant, generation, index, pod or f"{owner}-{variant}-g{generation}-i{index}"
    )


def ids(handles: object) -> list[str]:
    return [h.instance_id for h in handles]  # type: ignore[attr-defined]


def stops(plan: object) -> dict[str, StopReason]:
    return {s.handle.instance_id: s.reason for s in plan.stop}  # type: ignore[attr-defined]


# re-adoption ------------------------------------------------------------------------------------------
def test_instances_of_deleted_endpoints_are_orphans_and_other_owners_are_left_alone() -> None:
    e = StoredEndpoint("e", EndpointStatus.IN_SERVICE, state(("AllTraffic", 1, 1)))
    job = InstanceHandle("transform-job", "gone", "AllTraffic", 1, 1, "job-pod")
    plan = plan_adoption([e], [handle(1, 1), handle(1, 1, owner="gone"), handle(4, 2, owner="gone"), job])
    assert [(s.handle.owner, s.reason) for s in plan.orphans] == [("gone", StopReason.ORPHAN)] * 2
    assert [p.name for p in plan.endpoints] == ["e"]
    assert ids(plan.endpoints[0].fleets[0].adopt) == ["g1-i1"]
    assert "2 orphan(s) of gone" in plan.summary()


def test_an_in_service_endpoint_adopts_its_generation_and_stops_the_rest() -> None:
    e = StoredEndpoint("e", EndpointStatus.IN_SERVICE, state(("A", 2, 1), ("B", 1, 3)))
    found = [
        handle(1, 2, "A"),
        handle(1, 1, "A"),
        handle(1, 1, "A", pod="second-pod"),  # a second instance claiming A/g1-i1
        handle(2, 1, "A"),  # a generation A no longer serves
        handle(3, 1, "B"),
        handle(3, 1, "Old"),  # a variant the config no longer has
    ]
    plan = plan_endpoint(e, found)
    assert plan.recovery == Recovery.SERVE and plan.status == EndpointStatus.IN_SERVICE and plan.update is None
    assert [(f.variant, f.generation, f.desired, ids(f.adopt)) for f in plan.fleets] == [
        ("A", 1, 2, ["g1-i1", "g1-i2"]),
        ("B", 3, 1, ["g3-i1"]),
    ]
    assert [s.handle.pod_id for s in plan.stop if s.reason == StopReason.DUPLICATE] == ["second-pod"]
    assert stops(plan) == {
        "g1-i1": StopReason.DUPLICATE,
        "g2-i1": StopReason.OTHER_GENERATION,
        "g3-i1": StopReason.UNKNOWN_VARIANT,
    }
    line = plan.summary()
    assert "\n" not in line and "adopt A g1 2/2" in line and "1 duplicate" in line


def test_a_missing_instance_is_started_after_the_ones_kept() -> None:
    fleet = FleetPlan("AllTraffic", 1, 3, (handle(1, 1), handle(1, 4)))
    top_up = fleet.top_up(list(fleet.adopt))
    assert ids(top_up.keep) == ["g1-i1", "g1-i4"] and top_up.stop == () and top_up.start == (5,)


def test_a_dead_instance_is_replaced_not_kept() -> None:
    fleet = FleetPlan("AllTraffic", 1, 2, (handle(1, 1), handle(1, 2)))
    top_up = fleet.top_up([fleet.adopt[0]])  # g1-i2 did not answer its ping
    assert ids(top_up.keep) == ["g1-i1"] and top_up.start == (2,)


def test_no_instance_found_starts_the_whole_fleet() -> None:
    (fleet,) = plan_endpoint(StoredEndpoint("e", EndpointStatus.IN_SERVICE, state(("AllTraffic", 2, 1))), []).fleets
    assert fleet.top_up([]).start == (1, 2)


def test_an_interrupted_scale_down_stops_the_surplus_instances() -> None:
    # UpdateEndpointWeightsAndCapacities stored 1 instance, the daemon died before stopping the others
    e = StoredEndpoint("e", EndpointStatus.UPDATING, state(("AllTraffic", 1, 1)))
    plan = plan_endpoint(e, [handle(1, 3), handle(1, 1), handle(1, 2)])
    assert plan.update is not None and plan.update.outcome == UpdateOutcome.SETTLED
    assert plan.status == EndpointStatus.IN_SERVICE
    (fleet,) = plan.fleets
    top_up = fleet.top_up(list(fleet.adopt))
    assert ids(top_up.keep) == ["g1-i1"] and ids(top_up.stop) == ["g1-i2", "g1-i3"] and top_up.start == ()


@pytest.mark.parametrize(
    ("status", "recovery"),
    [(EndpointStatus.CREATING, Recovery.RECREATE), (EndpointStatus.FAILED, Recovery.STAY_FAILED)],
)
def test_a_creating_or_failed_endpoint_keeps_nothing_it_had_started(status: EndpointStatus, recovery: Recovery) -> None:
    plan = plan_endpoint(StoredEndpoint("e", status, state(("AllTraffic", 2, 1))), [handle(1, 1), handle(1, 2)])
    assert plan.recovery == recovery and plan.fleets == ()
    assert stops(plan) == {"g1-i1": StopReason.NOT_SERVING, "g1-i2": StopReason.NOT_SERVING}


def test_a_deleting_endpoint_is_torn_down_by_the_teardown_itself() -> None:
    plan = plan_endpoint(StoredEndpoint("e", EndpointStatus.DELETING, state(("AllTraffic", 2, 1))), [handle(1, 1)])
    assert plan.recovery == Recovery.TEAR_DOWN and plan.stop == () and plan.fleets == ()


# a restart in the middle of an update -------------------------------------------------------------------
EARLIER_PHASES = [p for p in DeploymentPhase if p != DeploymentPhase.TERMINATING]


@pytest.mark.parametrize("phase", EARLIER_PHASES)
def test_a_restart_before_blue_is_removed_rolls_back_to_blue(phase: DeploymentPhase) -> None:
    stored = state(("AllTraffic", 2, 1), update=deployment(phase))
    plan = plan_endpoint(
        StoredEndpoint("e", EndpointStatus.UPDATING, stored), [handle(1, 1), handle(1, 2), handle(2, 1)]
    )
    assert plan.update is not None and plan.update.outcome == UpdateOutcome.ROLLED_BACK
    assert f"interrupted by a daemon restart during {phase} and was rolled back" in plan.update.reason
    assert "configuration green" in plan.update.reason
    after = plan.update.state
    assert after.update is None and after.config["EndpointConfigName"] == "blue"
    assert plan.status == EndpointStatus.IN_SERVICE
    assert [(f.generation, ids(f.adopt)) for f in plan.fleets] == [(1, ["g1-i1", "g1-i2"])]
    assert stops(plan) == {"g2-i1": StopReason.OTHER_GENERATION}


def test_a_restart_while_blue_is_removed_rolls_forward_to_green() -> None:
    stored = state(("AllTraffic", 2, 1), update=deployment(DeploymentPhase.TERMINATING))
    plan = plan_endpoint(
        StoredEndpoint("e", EndpointStatus.UPDATING, stored), [handle(1, 2), handle(2, 1), handle(2, 2)]
    )
    assert plan.update is not None and plan.update.outcome == UpdateOutcome.ROLLED_FORWARD
    assert plan.update.reason == ""
    after = plan.update.state
    assert after.update is None and after.config["EndpointConfigName"] == "green"
    assert after.models == {"m2": {"ModelName": "m2"}}
    assert [v.generation for v in after.variants] == [2]
    assert after.last_deployment_config == {"BlueGreenUpdatePolicy": {"TerminationWaitInSeconds": 60}}
    assert [(f.generation, ids(f.adopt)) for f in plan.fleets] == [(2, ["g2-i1", "g2-i2"])]
    assert stops(plan) == {"g1-i2": StopReason.OTHER_GENERATION}


def test_a_terminating_update_without_a_green_generation_rolls_back() -> None:
    stored = state(("AllTraffic", 2, 1), update=deployment(DeploymentPhase.TERMINATING, generation=None))
    resolution = resolve_interrupted_update(EndpointStatus.ROLLING_BACK, stored)
    assert resolution is not None and resolution.outcome == UpdateOutcome.ROLLED_BACK


def test_resolving_leaves_the_stored_state_as_it_was() -> None:
    stored = state(("AllTraffic", 2, 1), update=deployment(DeploymentPhase.TERMINATING))
    before = stored.to_json()
    resolve_interrupted_update(EndpointStatus.UPDATING, stored)
    assert stored.to_json() == before


def test_only_an_updating_or_rolling_back_endpoint_has_an_update_to_resolve() -> None:
    stored = state(("AllTraffic", 2, 1), update=deployment(DeploymentPhase.BAKING))
    assert resolve_interrupted_update(EndpointStatus.IN_SERVICE, stored) is None
    plan = plan_endpoint(StoredEndpoint("e", EndpointStatus.UPDATING, stored), [], converge=False)
    assert plan.update is None and plan.status == EndpointStatus.UPDATING


# UpdateEndpointWeightsAndCapacities ---------------------------------------------------------------------
def test_scaling_up_starts_new_indexes_after_the_ones_in_use() -> None:
    plan = plan_scale([variant("A", 4, 1)], {"A": [1, 3]})
    assert [(v.variant, v.start, v.stop) for v in plan.variants] == [("A", (4, 5), ())]
    assert plan.summary() == "A +2 -0"


def test_scaling_down_stops_the_last_instances_in_rotation() -> None:
    plan = plan_scale([variant("A", 1, 1), variant("B", 0, 1)], {"A": [2, 1, 3], "B": [1]})
    assert [(v.variant, v.start, v.stop) for v in plan.variants] == [("A", (), (1, 3)), ("B", (), (1,))]


def test_scaling_leaves_variants_at_their_count_or_without_a_fleet_alone() -> None:
    plan = plan_scale([variant("A", 2, 1), variant("B", 3, None)], {"A": [1, 2]})
    assert plan.variants == () and plan.summary() == "no instance to start or stop"
