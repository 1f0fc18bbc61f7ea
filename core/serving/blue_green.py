"""UpdateEndpoint as SageMaker does it (blue/green with all-at-once, canary or linear traffic
shifting, alarms, rollback), and UpdateEndpointWeightsAndCapacities. Design notes: docs/serving.md."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from inferpipe.core.containers.fleet import Fleet, FleetStartError
from inferpipe.core.errors import ValidationException
from inferpipe.core.failure_reason import failure_reason
from inferpipe.core.serving.alarms import Alarms
from inferpipe.core.serving.endpoints import KIND, EndpointManager, variant_specs
from inferpipe.core.serving.plan import UpdateOutcome, UpdateResolution, plan_scale
from inferpipe.core.serving.router import EndpointRoute, VariantRoute
from inferpipe.core.serving.specs import UpdateEndpointSpec, WeightsAndCapacitiesSpec
from inferpipe.core.serving.state import (
    IN_PROGRESS,
    Deployment,
    DeploymentPhase,
    EndpointState,
    EndpointStatus,
    variant_counts,
)
from inferpipe.core.spec import VariantSpec

log = logging.getLogger("inferpipe.deployments")

DEFAULT_POLICY: dict[str, Any] = {
    "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}
}
DEFAULT_MAX_EXECUTION = 28800


class DeploymentFailed(Exception):
    pass


def traffic_steps(policy: dict[str, Any], total_instances: int) -> tuple[list[float], int]:
    """The green shares to shift through, and the bake (seconds) after each."""
    bg = policy.get("BlueGreenUpdatePolicy")
    if bg:
        trc = bg["TrafficRoutingConfiguration"]
        wait = int(trc.get("WaitIntervalInSeconds", 0))
        kind = trc["Type"]
        if kind == "CANARY":
            return [_fraction(trc["CanarySize"], total_instances, 0.5), 1.0], wait
        if kind == "LINEAR":
            step = _fraction(trc["LinearStepSize"], total_instances, 1.0)
            n = math.ceil(1 / step - 1e-9)
            return [min(1.0, step * k) for k in range(1, n + 1)], wait
        return [1.0], wait
    rolling = policy["RollingUpdatePolicy"]  # batches of capacity, approximated by linear shifting
    step = _fraction(rolling["MaximumBatchSize"], total_instances, 1.0)
    n = math.ceil(1 / step - 1e-9)
    return [min(1.0, step * k) for k in range(1, n + 1)], int(rolling.get("WaitIntervalInSeconds", 0))


def _fraction(size: dict[str, Any], total: int, cap: float) -> float:
    value = float(size["Value"])
    frac = value / 100 if size["Type"] == "CAPACITY_PERCENT" else value / max(total, 1)
    return max(0.01, min(cap, frac))


class Deployments:
    def __init__(self, endpoints: EndpointManager, alarms: Alarms) -> None:
        self.em = endpoints
        self.alarms = alarms
        self.clock = endpoints.timing.clock
        self.green: dict[str, dict[str, Fleet]] = {}
        self.live: dict[str, dict[str, Any]] = {}  # endpoint -> phase, share, bake end, alarm states

    # UpdateEndpoint ----------------------------------------------------------------------------
    async def update_endpoint(self, spec: UpdateEndpointSpec) -> dict[str, Any]:
        rec, state = self.em.load(spec.name)
        endpoint_arn = rec.arn
        if rec.status != EndpointStatus.IN_SERVICE:
            raise ValidationException(
                f'Cannot update in-progress endpoint "{endpoint_arn}".'
                if rec.status in IN_PROGRESS
                else f'Cannot update endpoint "{endpoint_arn}" in status {rec.status}: only an InService endpoint'
                " can be updated (a Failed endpoint can only be deleted)."
            )
        config, models = self.em.snapshot(spec.config_name)
        policy = spec.deployment_config
        if policy is None and spec.retain_deployment_config:
            policy = state.last_deployment_config or rec.spec.get("DeploymentConfig")
        alarm_names = [
            a["AlarmName"] for a in ((policy or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])
        ]
        missing = self.alarms.missing(alarm_names)
        if missing:
            raise ValidationException(
                f"The alarm(s) {', '.join(missing)} in AutoRollbackConfiguration do not exist:"
                " create them with inferpipe put-metric-alarm first."
            )
        desired = self.em.desired_variants(config)
        if spec.retain_all_variant_properties:
            skip = spec.excluded_variant_properties
            for v in desired:
                old = state.variant(v.name)
                if not old:
                    continue
                if "DesiredInstanceCount" not in skip:
                    v.desired_instance_count = old.desired_instance_count
                if "DesiredWeight" not in skip:
                    v.desired_weight = v.current_weight = old.current_weight
        self.em.instances.check_endpoint(
            rec.name,
            variant_counts(desired),
            before=variant_counts(state.variants),
            beside=True,  # the new fleet starts next to the old one
        )
        now = self.clock.time()
        state.update = Deployment(
            config=config,
            models=models,
            variants=desired,
            policy=policy or DEFAULT_POLICY,
            requested_policy=policy,
            start_time=now,
            phase_time=now,
        )
        self.em.store.update(
            KIND,
            rec.name,
            status=EndpointStatus.UPDATING,
            failure_reason=None,
            state=state.to_json(),
            event="UpdateStarted",
            detail={"endpointConfig": config["EndpointConfigName"]},
        )
        self.em.status[rec.name] = EndpointStatus.UPDATING
        self.em.spawn(rec.name, self._deploy(rec.name))
        return {"EndpointArn": endpoint_arn}

    def _deployment(self, name: str) -> tuple[EndpointState, Deployment]:
        _, state = self.em.load(name)
        assert state.update is not None  # only called while this endpoint's deployment runs
        return state, state.update

    def _phase(self, name: str, phase: DeploymentPhase, message: str = "", **live: Any) -> None:
        state, update = self._deployment(name)
        update.phase, update.phase_message, update.phase_time = phase, message, self.clock.time()
        self.em.store.update(
            KIND, name, state=state.to_json(), event=f"Deployment{phase}", detail={"message": message, **live}
        )
        self.live[name] = {"Phase": str(phase), "Message": message, **live}

    async def _deploy(self, name: str) -> None:
        async with self.em.lock(name):
            _, update = self._deployment(name)
            policy = update.policy
            max_seconds = int(
                (policy.get("BlueGreenUpdatePolicy") or policy.get("RollingUpdatePolicy") or {}).get(
                    "MaximumExecutionTimeoutInSeconds", DEFAULT_MAX_EXECUTION
                )
            )
            deadline = update.start_time + max_seconds
            blue_route = self.em.router.routes.get(name)
            blue_fleets = dict(self.em.fleets.get(name, {}))
            alarm_names = [a["AlarmName"] for a in (policy.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
            try:
                self._phase(
                    name, DeploymentPhase.CREATING, "Starting and health-checking the new fleet beside the old one."
                )
                generation = self.em.next_generation(name)
                state, stored = self._deployment(name)
                stored.generation = generation
                self.em.store.update(KIND, name, state=state.to_json())
                specs = self._specs(update)
                results = await asyncio.gather(
                    *(self.em.launch_variant(name, s, generation) for s in specs), return_exceptions=True
                )
                fleets = [r for r in results if isinstance(r, Fleet)]
                self.green[name] = {f.variant.name: f for f in fleets}
                errors = [r for r in results if isinstance(r, BaseException)]
                if errors:
                    raise DeploymentFailed(
                        " ".join(str(e) if isinstance(e, FleetStartError) else repr(e) for e in errors)
                    )
                green_route = EndpointRoute(
                    name,
                    specs[0].model.mode,
                    [VariantRoute(s.name, s.weight, self.green[name][s.name]) for s in specs],
                    capture=self.em.capture_for(name, update.config),
                )
                shares, bake = traffic_steps(policy, sum(s.instance_count for s in specs))
                for step, share in enumerate(shares, 1):
                    self._phase(
                        name,
                        DeploymentPhase.ACTIVATING_TRAFFIC,
                        f"Shifting {share:.0%} of traffic to the new fleet.",
                        GreenShare=share,
                        Step=f"{step}/{len(shares)}",
                    )
                    if blue_route is not None:
                        self.em.router.install(
                            EndpointRoute(
                                name,
                                blue_route.mode,
                                blue_route.variants,
                                green=green_route,
                                green_share=share,
                                capture=blue_route.capture,
                            )
                        )
                    self._phase(
                        name,
                        DeploymentPhase.BAKING,
                        f"Baking {bake} s with {share:.0%} of traffic on the new fleet.",
                        GreenShare=share,
                        Step=f"{step}/{len(shares)}",
                        BakeEndsAt=self.clock.time() + bake,
                    )
                    await self._bake(name, bake, alarm_names, deadline)
                wait = int((policy.get("BlueGreenUpdatePolicy") or {}).get("TerminationWaitInSeconds", 0))
                if wait:
                    self._phase(
                        name,
                        DeploymentPhase.TERMINATION_WAIT,
                        f"Waiting {wait} s before removing the old fleet.",
                        GreenShare=1.0,
                        BakeEndsAt=self.clock.time() + wait,
                    )
                    await self._bake(name, wait, [], deadline)
                # Point of no return: from here a restart finishes the deployment.
                self._phase(name, DeploymentPhase.TERMINATING, "Draining and removing the old fleet.", GreenShare=1.0)
            except (DeploymentFailed, Exception) as exc:  # noqa: BLE001 - any failure rolls back
                reason = str(exc) if isinstance(exc, DeploymentFailed) else f"Internal error: {exc!r}"
                log.warning("deployment of %s rolled back: %s", name, reason)
                await self._roll_back(name, blue_route, reason)
                return
            except asyncio.CancelledError:
                await self._roll_back(name, blue_route, "The deployment was cancelled.")
                raise
            self.em.router.install(green_route)
            self.em.fleets[name] = self.green.pop(name)
            await self._retire(list(blue_fleets.values()))
            self._commit(name)

    def _specs(self, update: Deployment) -> list[VariantSpec]:
        specs = variant_specs(update.config, update.models)
        desired = {v.name: v for v in update.variants}
        return [
            VariantSpec(
                s.name,
                s.model,
                desired[s.name].desired_instance_count,
                desired[s.name].current_weight,
                s.instance_type,
                s.startup_timeout,
            )
            for s in specs
        ]

    async def _bake(self, name: str, seconds: float, alarm_names: list[str], deadline: float) -> None:
        end = self.clock.monotonic() + seconds
        while True:
            states = {}
            for alarm in alarm_names:
                state, reason = self.alarms.evaluate(alarm)
                states[alarm] = state
                if state == "ALARM":
                    raise DeploymentFailed(
                        f"Alarm {alarm} went into ALARM during the deployment's bake period ({reason})"
                        " so all traffic was rolled back to the previous fleet."
                    )
            self.live.setdefault(name, {})["Alarms"] = states
            if self.clock.time() > deadline:
                raise DeploymentFailed("The deployment exceeded MaximumExecutionTimeoutInSeconds and was rolled back.")
            if self.clock.monotonic() >= end:
                return
            await asyncio.sleep(min(self.em.timing.alarm_poll, max(0.0, end - self.clock.monotonic())))

    async def _retire(self, fleets: list[Fleet]) -> None:
        instances = [i for f in fleets for i in f.instances]
        await self.em.launcher.drain(instances, self.em.router.container_timeout)
        await self.em.launcher.stop_fleets(fleets)
        self.em.launcher.collect_model_data()

    def _commit(self, name: str) -> None:
        state, update = self._deployment(name)
        fleets = self.em.fleets.get(name, {})
        state.config, state.models = update.config, update.models
        state.variants = [self.em.variant_state(f, update.variants) for f in fleets.values()]
        if update.requested_policy:
            state.last_deployment_config = update.requested_policy
        state.update = None
        self.em.store.update(
            KIND,
            name,
            status=EndpointStatus.IN_SERVICE,
            failure_reason=None,
            state=state.to_json(),
            event="UpdateSucceeded",
            detail={"endpointConfig": update.config["EndpointConfigName"]},
        )
        self.em.status[name] = EndpointStatus.IN_SERVICE
        self.live.pop(name, None)

    async def _roll_back(self, name: str, blue_route: EndpointRoute | None, reason: str) -> None:
        if blue_route is not None:
            self.em.router.install(
                EndpointRoute(name, blue_route.mode, blue_route.variants, capture=blue_route.capture)
            )
        self._phase(name, DeploymentPhase.ROLLING_BACK, reason)
        green = list(self.green.pop(name, {}).values())
        await self._retire(green)
        # whatever of the green generation may be left (half-started instances)
        state, update = self._deployment(name)
        if update.generation is not None:
            await self.em.remove_generation(name, update.generation)
        state.update = None
        self.em.store.update(
            KIND,
            name,
            status=EndpointStatus.IN_SERVICE,
            failure_reason=failure_reason(reason),
            state=state.to_json(),
            event="UpdateRolledBack",
            detail={"reason": reason},
        )
        self.em.status[name] = EndpointStatus.IN_SERVICE
        self.live.pop(name, None)

    # after a restart ---------------------------------------------------------------------------
    def converge(self, name: str, resolution: UpdateResolution) -> None:
        """Store how an update a daemon restart interrupted ends (decided by ``plan``), before its
        containers are re-adopted."""
        state = resolution.state
        if resolution.outcome == UpdateOutcome.SETTLED:
            self.em.store.update(KIND, name, status=EndpointStatus.IN_SERVICE, state=state.to_json())
        elif resolution.outcome == UpdateOutcome.ROLLED_FORWARD:
            self.em.store.update(
                KIND,
                name,
                status=EndpointStatus.IN_SERVICE,
                failure_reason=None,
                state=state.to_json(),
                event="UpdateSucceeded",
                detail={"afterRestart": True},
            )
        else:
            self.em.store.update(
                KIND,
                name,
                status=EndpointStatus.IN_SERVICE,
                failure_reason=failure_reason(resolution.reason),
                state=state.to_json(),
                event="UpdateRolledBack",
                detail={"reason": resolution.reason, "afterRestart": True},
            )

    # UpdateEndpointWeightsAndCapacities ----------------------------------------------------------
    async def update_weights(self, spec: WeightsAndCapacitiesSpec) -> dict[str, Any]:
        rec, state = self.em.load(spec.name)
        if rec.status != EndpointStatus.IN_SERVICE:
            raise ValidationException(f'Cannot update in-progress endpoint "{rec.arn}".')
        unknown = [ch.variant_name for ch in spec.changes if state.variant(ch.variant_name) is None]
        if unknown:
            raise ValidationException(
                f'The variant(s) "[{", ".join(unknown)}]" is/are not present in the endpoint "{rec.arn}".'
            )
        before = variant_counts(state.variants)
        for v in state.variants:
            ch = next((x for x in spec.changes if x.variant_name == v.name), None)
            if ch and ch.weight is not None:
                v.desired_weight = ch.weight
            if ch and ch.instance_count is not None:
                v.desired_instance_count = ch.instance_count
        self.em.instances.check_endpoint(rec.name, variant_counts(state.variants), before=before, beside=False)
        self.em.store.update(
            KIND,
            rec.name,
            status=EndpointStatus.UPDATING,
            failure_reason=None,
            state=state.to_json(),
            event="WeightsAndCapacitiesUpdating",
        )
        self.em.status[rec.name] = EndpointStatus.UPDATING
        self.em.spawn(rec.name, self._scale(rec.name))
        return {"EndpointArn": rec.arn}

    async def _scale(self, name: str) -> None:
        async with self.em.lock(name):
            _, state = self.em.load(name)
            fleets = self.em.fleets.get(name, {})
            plan = plan_scale(state.variants, {v: [i.handle.index for i in f.instances] for v, f in fleets.items()})
            log.info("scaling %s: %s", name, plan.summary())
            try:
                for step in plan.variants:
                    fleet = fleets[step.variant]
                    if step.start:
                        new = await asyncio.gather(
                            *(self.em.launcher.start_instance(fleet, index) for index in step.start),
                            return_exceptions=True,
                        )
                        good = [n for n in new if not isinstance(n, BaseException)]
                        bad = [n for n in new if isinstance(n, BaseException)]
                        if bad:
                            await self.em.launcher.stop_instances(good, 0)
                            raise DeploymentFailed(" ".join(str(b) for b in bad))
                        fleet.instances.extend(good)  # healthy before they get traffic
                    if step.stop:
                        victims = [i for i in fleet.instances if i.handle.index in step.stop]
                        # out of rotation first, then drained
                        fleet.instances[:] = [i for i in fleet.instances if i not in victims]
                        await self.em.launcher.drain(victims, self.em.router.container_timeout)
                        await self.em.launcher.stop_instances(victims)
                _, state = self.em.load(name)
                for v in state.variants:
                    v.current_weight = v.desired_weight
                self.em.store.update(
                    KIND,
                    name,
                    status=EndpointStatus.IN_SERVICE,
                    state=state.to_json(),
                    event="WeightsAndCapacitiesUpdated",
                )
                self.em.install_route(name, self.em.specs_for(state))
            except Exception as exc:  # noqa: BLE001 - report it on the endpoint, keep serving
                _, state = self.em.load(name)
                for v in state.variants:
                    v.desired_weight = v.current_weight
                    if v.name in fleets:
                        v.desired_instance_count = len(fleets[v.name].instances)
                self.em.store.update(
                    KIND,
                    name,
                    status=EndpointStatus.IN_SERVICE,
                    failure_reason=failure_reason(str(exc), prefix="Scaling failed"),
                    state=state.to_json(),
                    event="WeightsAndCapacitiesFailed",
                )
            self.em.status[name] = EndpointStatus.IN_SERVICE

    def describe_extra(self, name: str) -> dict[str, Any] | None:
        live = self.live.get(name)
        if not live:
            return None
        out = dict(live)
        if "BakeEndsAt" in out:
            out["BakeSecondsLeft"] = max(0.0, round(out["BakeEndsAt"] - self.clock.time(), 1))
        return out
