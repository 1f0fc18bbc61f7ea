"""Deciding, apart from acting: what a daemon start, an interrupted update and a weights/capacity
change must do, computed from the stored endpoint state and the instances the runtime reports.

Every function here is pure: no runtime, no store, no event loop. ``EndpointManager.adopt`` and
``Deployments._scale`` compute a plan, log it in one line, then carry it out, so each decision can
be tested with plain data.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from inferpipe.core.containers.runtime import InstanceHandle
from inferpipe.core.serving.state import DeploymentPhase, EndpointState, EndpointStatus, VariantState

ENDPOINT_KIND = "endpoint"  # InstanceHandle.owner_kind of an endpoint's instances


class StopReason(StrEnum):
    ORPHAN = "orphan"  # its endpoint no longer exists
    DUPLICATE = "duplicate"  # a second instance claims the same variant, generation and index
    OTHER_GENERATION = "other generation"  # not the fleet the endpoint serves
    UNKNOWN_VARIANT = "unknown variant"  # a variant the endpoint's config no longer has
    NOT_SERVING = "not serving"  # the endpoint is Creating (started afresh) or Failed


@dataclass(frozen=True)
class Stop:
    handle: InstanceHandle
    reason: StopReason


class Recovery(StrEnum):
    """What a daemon start does with an endpoint, by its stored status."""

    SERVE = "serve"  # re-adopt its fleets and route to them
    RECREATE = "recreate"  # Creating: whatever started is removed, the fleets start afresh
    TEAR_DOWN = "tear down"  # Deleting: the delete is finished
    STAY_FAILED = "stay failed"  # Failed: nothing runs


class UpdateOutcome(StrEnum):
    SETTLED = "settled"  # a weights/capacity change: re-adoption restores the desired counts
    ROLLED_FORWARD = "rolled forward"  # blue was already being removed: green serves
    ROLLED_BACK = "rolled back"  # anything earlier: blue serves, green is removed


@dataclass(frozen=True)
class UpdateResolution:
    """How an update interrupted by a daemon restart ends, and the state it leaves."""

    outcome: UpdateOutcome
    state: EndpointState
    reason: str = ""  # the FailureReason of a rollback


@dataclass(frozen=True)
class FleetTopUp:
    """What a fleet needs once its adopted instances were health-checked."""

    keep: tuple[InstanceHandle, ...]
    stop: tuple[InstanceHandle, ...]  # beyond the desired count
    start: tuple[int, ...]  # instance indexes to start


@dataclass(frozen=True)
class FleetPlan:
    variant: str
    generation: int
    desired: int
    adopt: tuple[InstanceHandle, ...]  # candidates, by index; each is health-checked before it serves

    def top_up(self, alive: Sequence[InstanceHandle]) -> FleetTopUp:
        """The instances to keep, stop and start once ``alive`` (of ``adopt``) answered their pings.

        Decided after the health check, so a dead instance is replaced rather than a live surplus
        one stopped in its place."""
        ordered = sorted(alive, key=lambda h: h.index)
        keep, surplus = ordered[: self.desired], ordered[self.desired :]
        missing = self.desired - len(keep)
        return FleetTopUp(tuple(keep), tuple(surplus), tuple(next_indexes([h.index for h in keep], missing)))


@dataclass(frozen=True)
class EndpointPlan:
    name: str
    recovery: Recovery
    status: EndpointStatus  # once the plan is carried out
    update: UpdateResolution | None = None
    fleets: tuple[FleetPlan, ...] = ()
    stop: tuple[Stop, ...] = ()

    def summary(self) -> str:
        """The plan in one log line."""
        parts = [f"endpoint {self.name}: {self.recovery}"]
        if self.update is not None:
            parts.append(f"update {self.update.outcome}")
        for f in self.fleets:
            parts.append(f"adopt {f.variant} g{f.generation} {len(f.adopt)}/{f.desired}")
        if self.stop:
            parts.append("stop " + _count_reasons(self.stop))
        return "; ".join(parts)


@dataclass(frozen=True)
class AdoptionPlan:
    orphans: tuple[Stop, ...]
    endpoints: tuple[EndpointPlan, ...]

    def summary(self) -> str:
        if not self.orphans:
            return f"{len(self.endpoints)} endpoint(s)"
        owners = sorted({s.handle.owner for s in self.orphans})
        return f"{len(self.endpoints)} endpoint(s); stop {len(self.orphans)} orphan(s) of {', '.join(owners)}"


@dataclass(frozen=True)
class StoredEndpoint:
    """What the plan needs of a stored endpoint record."""

    name: str
    status: EndpointStatus
    state: EndpointState


def plan_adoption(
    endpoints: Iterable[StoredEndpoint], handles: Iterable[InstanceHandle], *, converge: bool = True
) -> AdoptionPlan:
    """What a daemon start does with every stored endpoint and every instance the runtime reports.

    ``converge`` resolves updates a restart interrupted before the fleets are planned, so the fleet
    a resolved update leaves serving is the one adopted."""
    by_owner: dict[str, list[InstanceHandle]] = {}
    for h in handles:
        if h.owner_kind == ENDPOINT_KIND:
            by_owner.setdefault(h.owner, []).append(h)
    stored = list(endpoints)
    known = {e.name for e in stored}
    orphans = tuple(Stop(h, StopReason.ORPHAN) for owner, hs in by_owner.items() if owner not in known for h in hs)
    return AdoptionPlan(orphans, tuple(plan_endpoint(e, by_owner.get(e.name, []), converge=converge) for e in stored))


def plan_endpoint(
    endpoint: StoredEndpoint, handles: Sequence[InstanceHandle], *, converge: bool = True
) -> EndpointPlan:
    """What a daemon start does with one endpoint, given the instances found under its name."""
    status = endpoint.status
    if status == EndpointStatus.DELETING:  # the teardown lists and stops everything itself
        return EndpointPlan(endpoint.name, Recovery.TEAR_DOWN, status)
    if status in (EndpointStatus.CREATING, EndpointStatus.FAILED):
        recovery = Recovery.RECREATE if status == EndpointStatus.CREATING else Recovery.STAY_FAILED
        stop = tuple(Stop(h, StopReason.NOT_SERVING) for h in handles)
        return EndpointPlan(endpoint.name, recovery, status, stop=stop)
    update = resolve_interrupted_update(status, endpoint.state) if converge else None
    if update is not None:
        state, status = update.state, EndpointStatus.IN_SERVICE
    else:
        state = endpoint.state
    fleets, stop = plan_fleets(state, handles)
    return EndpointPlan(endpoint.name, Recovery.SERVE, status, update, fleets, stop)


def plan_fleets(
    state: EndpointState, handles: Sequence[InstanceHandle]
) -> tuple[tuple[FleetPlan, ...], tuple[Stop, ...]]:
    """One fleet per configured variant, of the generation the state names, and the instances to stop."""
    wanted: dict[str, tuple[int, int]] = {}  # variant -> (generation, desired count)
    for v in state.config["ProductionVariants"]:
        name = v["VariantName"]
        stored = state.variant(name)
        generation = stored.generation if stored and stored.generation is not None else 1
        desired = stored.desired_instance_count if stored else int(v.get("InitialInstanceCount") or 1)
        wanted[name] = (generation, desired)
    candidates: dict[str, dict[int, InstanceHandle]] = {name: {} for name in wanted}
    stop: list[Stop] = []
    for h in handles:
        if h.variant not in wanted:
            stop.append(Stop(h, StopReason.UNKNOWN_VARIANT))
        elif h.generation != wanted[h.variant][0]:
            stop.append(Stop(h, StopReason.OTHER_GENERATION))
        elif h.index in candidates[h.variant]:
            stop.append(Stop(h, StopReason.DUPLICATE))
        else:
            candidates[h.variant][h.index] = h
    fleets = tuple(
        FleetPlan(name, generation, desired, tuple(candidates[name][i] for i in sorted(candidates[name])))
        for name, (generation, desired) in wanted.items()
    )
    return fleets, tuple(stop)


def resolve_interrupted_update(status: EndpointStatus, state: EndpointState) -> UpdateResolution | None:
    """How an update a daemon restart interrupted ends, or None when none was running.

    Past TERMINATING blue is already partly gone, so the deployment finishes on green; before it
    blue still serves everything that matters and green is rolled back."""
    if status not in (EndpointStatus.UPDATING, EndpointStatus.ROLLING_BACK):
        return None
    after = copy.deepcopy(state)  # the caller's state stays as stored
    update, after.update = after.update, None
    if update is None:
        return UpdateResolution(UpdateOutcome.SETTLED, after)
    if update.phase == DeploymentPhase.TERMINATING and update.generation is not None:
        after.config, after.models = update.config, update.models
        after.variants = update.variants
        for v in after.variants:
            v.generation = update.generation
        if update.requested_policy:
            after.last_deployment_config = update.requested_policy
        return UpdateResolution(UpdateOutcome.ROLLED_FORWARD, after)
    reason = (
        f"The deployment of endpoint configuration {update.config['EndpointConfigName']} was interrupted"
        f" by a daemon restart during {update.phase} and was rolled back."
    )
    return UpdateResolution(UpdateOutcome.ROLLED_BACK, after, reason)


@dataclass(frozen=True)
class VariantScale:
    variant: str
    start: tuple[int, ...] = ()  # instance indexes to start
    stop: tuple[int, ...] = ()  # instance indexes to take out of rotation, drain and stop

    def __bool__(self) -> bool:
        return bool(self.start or self.stop)


@dataclass(frozen=True)
class ScalePlan:
    variants: tuple[VariantScale, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        steps = [f"{v.variant} +{len(v.start)} -{len(v.stop)}" for v in self.variants if v]
        return "; ".join(steps) or "no instance to start or stop"


def plan_scale(variants: Sequence[VariantState], fleets: dict[str, Sequence[int]]) -> ScalePlan:
    """The instances to start or stop so each variant's fleet reaches its desired count.

    ``fleets`` gives the instance indexes each serving fleet holds, in rotation order; a variant
    without a fleet is left alone. The last instances in rotation are the ones removed."""
    out = []
    for v in variants:
        indexes = fleets.get(v.name)
        if indexes is None:
            continue
        want, have = v.desired_instance_count, len(indexes)
        if want > have:
            out.append(VariantScale(v.name, start=tuple(next_indexes(indexes, want - have))))
        elif want < have:
            out.append(VariantScale(v.name, stop=tuple(indexes[want:])))
    return ScalePlan(tuple(out))


def next_indexes(taken: Iterable[int], count: int) -> list[int]:
    """``count`` fresh instance indexes, after every one in use."""
    start = max(taken, default=0) + 1
    return list(range(start, start + max(0, count)))


def _count_reasons(stops: Iterable[Stop]) -> str:
    counts: dict[str, int] = {}
    for s in stops:
        counts[s.reason] = counts.get(s.reason, 0) + 1
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())
