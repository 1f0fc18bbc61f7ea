"""UpdateEndpoint as SageMaker does it: blue/green with all-at-once, canary or linear traffic
shifting, a bake after every shift watched by alarms, then blue drained and removed; any failure
sends all traffic back to blue and removes green. Also UpdateEndpointWeightsAndCapacities.

The deployment's progress lives in the endpoint's stored state (``state["update"]``), so a daemon
restart in the middle converges: past the point of no return (blue being removed) it finishes,
before it rolls back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from inferpipe.core.api.deployment_policy import validate_deployment_config
from inferpipe.core.containers.fleet import Fleet, FleetStartError
from inferpipe.core.errors import ValidationException
from inferpipe.core.limits import variant_counts
from inferpipe.core.serving.alarms import Alarms
from inferpipe.core.serving.endpoints import KIND, EndpointManager, variant_specs
from inferpipe.core.serving.router import EndpointRoute, VariantRoute
from inferpipe.core.spec import VariantSpec
from inferpipe.core.store import Record

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
    async def update_endpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        # Member constraints were checked at the API edge (api.shapes); the service rules follow.
        excluded = req.get("ExcludeRetainedVariantProperties")
        if req.get("DeploymentConfig"):
            validate_deployment_config(req["DeploymentConfig"])
        name = req["EndpointName"]
        rec = self.em.get(name)
        endpoint_arn = rec.arn
        if rec.status != "InService":
            raise ValidationException(
                f'Cannot update in-progress endpoint "{endpoint_arn}".'
                if rec.status in ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
                else f'Cannot update endpoint "{endpoint_arn}" in status {rec.status}: only an InService endpoint'
                " can be updated (a Failed endpoint can only be deleted)."
            )
        config, models = self.em.snapshot(req["EndpointConfigName"])
        policy = req.get("DeploymentConfig")
        if policy is None and req.get("RetainDeploymentConfig"):
            policy = rec.state.get("lastDeploymentConfig") or rec.spec.get("DeploymentConfig")
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
        if req.get("RetainAllVariantProperties"):
            current = {v["VariantName"]: v for v in rec.state.get("variants", [])}
            skip = {e["VariantPropertyType"] for e in excluded or []}
            for v in desired:
                old = current.get(v["VariantName"])
                if not old:
                    continue
                if "DesiredInstanceCount" not in skip:
                    v["DesiredInstanceCount"] = old["DesiredInstanceCount"]
                if "DesiredWeight" not in skip:
                    v["DesiredWeight"] = v["CurrentWeight"] = old.get("CurrentWeight", 1.0)
        self.em.instances.check_endpoint(
            rec.name,
            variant_counts(desired, "DesiredInstanceCount"),
            before=variant_counts(rec.state.get("variants", []), "DesiredInstanceCount"),
            beside=True,  # the new fleet starts next to the old one
        )
        now = self.clock.time()
        update = {
            "config": config,
            "models": models,
            "variants": desired,
            "policy": policy or DEFAULT_POLICY,
            "requestedPolicy": policy,
            "phase": "Creating",
            "startTime": now,
        }
        state = dict(rec.state, update=update)
        state["pending"] = self._pending_summary(update, "Creating")
        self.em.store.update(
            KIND,
            rec.name,
            status="Updating",
            failure_reason=None,
            state=state,
            event="UpdateStarted",
            detail={"endpointConfig": config["EndpointConfigName"]},
        )
        self.em.status[rec.name] = "Updating"
        self.em.spawn(rec.name, self._deploy(rec.name))
        return {"EndpointArn": endpoint_arn}

    def _pending_summary(self, update: dict[str, Any], status: str, message: str = "") -> dict[str, Any]:
        by_name = {v["VariantName"]: v for v in update["config"]["ProductionVariants"]}
        variants = []
        for v in update["variants"]:
            item: dict[str, Any] = {
                "VariantName": v["VariantName"],
                "DesiredWeight": v["DesiredWeight"],
                "DesiredInstanceCount": v["DesiredInstanceCount"],
                "VariantStatus": [
                    {
                        "Status": status,
                        "StartTime": self.clock.time(),
                        **({"StatusMessage": message} if message else {}),
                    }
                ],
            }
            if by_name[v["VariantName"]].get("InstanceType"):
                item["InstanceType"] = by_name[v["VariantName"]]["InstanceType"]
            variants.append(item)
        return {
            "EndpointConfigName": update["config"]["EndpointConfigName"],
            "ProductionVariants": variants,
            "StartTime": update["startTime"],
        }

    def _phase(self, name: str, phase: str, message: str = "", **live: Any) -> None:
        rec = self.em.get(name)
        update = dict(rec.state["update"], phase=phase)
        variant_status = {
            "Creating": "Creating",
            "ActivatingTraffic": "ActivatingTraffic",
            "Baking": "Baking",
            "TerminationWait": "Baking",
            "Terminating": "Deleting",
            "RollingBack": "Deleting",
        }[phase]
        state = dict(rec.state, update=update, pending=self._pending_summary(update, variant_status, message))
        self.em.store.update(KIND, name, state=state, event=f"Deployment{phase}", detail={"message": message, **live})
        self.live[name] = {"Phase": phase, "Message": message, **live}

    async def _deploy(self, name: str) -> None:
        async with self.em.lock(name):
            rec = self.em.get(name)
            update = rec.state["update"]
            policy = update["policy"]
            max_seconds = int(
                (policy.get("BlueGreenUpdatePolicy") or policy.get("RollingUpdatePolicy") or {}).get(
                    "MaximumExecutionTimeoutInSeconds", DEFAULT_MAX_EXECUTION
                )
            )
            deadline = update["startTime"] + max_seconds
            blue_route = self.em.router.routes.get(name)
            blue_fleets = dict(self.em.fleets.get(name, {}))
            alarm_names = [a["AlarmName"] for a in (policy.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
            try:
                self._phase(name, "Creating", "Starting and health-checking the new fleet beside the old one.")
                generation = self.em.next_generation(name)
                rec = self.em.get(name)
                rec.state["update"]["generation"] = generation
                self.em.store.update(KIND, name, state=rec.state)
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
                    [VariantRoute(s.name, s.weight, [(self.green[name][s.name], 1.0)]) for s in specs],
                )
                shares, bake = traffic_steps(policy, sum(s.instance_count for s in specs))
                for step, share in enumerate(shares, 1):
                    self._phase(
                        name,
                        "ActivatingTraffic",
                        f"Shifting {share:.0%} of traffic to the new fleet.",
                        GreenShare=share,
                        Step=f"{step}/{len(shares)}",
                    )
                    if blue_route is not None:
                        self.em.router.install(
                            EndpointRoute(
                                name, blue_route.mode, blue_route.variants, green=green_route, green_share=share
                            )
                        )
                    self._phase(
                        name,
                        "Baking",
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
                        "TerminationWait",
                        f"Waiting {wait} s before removing the old fleet.",
                        GreenShare=1.0,
                        BakeEndsAt=self.clock.time() + wait,
                    )
                    await self._bake(name, wait, [], deadline)
                # Point of no return: from here a restart finishes the deployment.
                self._phase(name, "Terminating", "Draining and removing the old fleet.", GreenShare=1.0)
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

    def _specs(self, update: dict[str, Any]) -> list[VariantSpec]:
        specs = variant_specs(update["config"], update["models"])
        desired = {v["VariantName"]: v for v in update["variants"]}
        return [
            VariantSpec(
                s.name,
                s.model,
                int(desired[s.name]["DesiredInstanceCount"]),
                float(desired[s.name]["CurrentWeight"]),
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
        rec = self.em.get(name)
        update = rec.state["update"]
        fleets = self.em.fleets.get(name, {})
        state = {k: v for k, v in rec.state.items() if k not in ("update", "pending")}
        state["config"], state["models"] = update["config"], update["models"]
        rec_for_variants = Record(
            rec.kind,
            rec.name,
            rec.arn,
            rec.status,
            None,
            rec.created,
            rec.modified,
            rec.spec,
            dict(state, variants=update["variants"]),
        )
        state["variants"] = [self.em.variant_state(f, rec_for_variants) for f in fleets.values()]
        if update.get("requestedPolicy"):
            state["lastDeploymentConfig"] = update["requestedPolicy"]
        self.em.store.update(
            KIND,
            name,
            status="InService",
            failure_reason=None,
            state=state,
            event="UpdateSucceeded",
            detail={"endpointConfig": update["config"]["EndpointConfigName"]},
        )
        self.em.status[name] = "InService"
        self.live.pop(name, None)

    async def _roll_back(self, name: str, blue_route: EndpointRoute | None, reason: str) -> None:
        if blue_route is not None:
            self.em.router.install(EndpointRoute(name, blue_route.mode, blue_route.variants))
        self._phase(name, "RollingBack", reason)
        green = list(self.green.pop(name, {}).values())
        await self._retire(green)
        # whatever of the green generation may be left (half-started instances)
        rec = self.em.get(name)
        gen = rec.state.get("update", {}).get("generation")
        if gen is not None:
            await self.em.remove_generation(name, gen)
        state = {k: v for k, v in rec.state.items() if k not in ("update", "pending")}
        self.em.store.update(
            KIND,
            name,
            status="InService",
            failure_reason=reason[:1024],
            state=state,
            event="UpdateRolledBack",
            detail={"reason": reason},
        )
        self.em.status[name] = "InService"
        self.live.pop(name, None)

    # after a restart ---------------------------------------------------------------------------
    def converge(self, rec: Record) -> Record:
        """Decide, before re-adopting containers, which fleet an interrupted update leaves serving."""
        update = rec.state.get("update")
        if rec.status not in ("Updating", "RollingBack"):
            return rec
        state = {k: v for k, v in rec.state.items() if k not in ("update", "pending")}
        if update is None:  # a weights/capacity change: re-adoption restores the desired counts
            self.em.store.update(KIND, rec.name, status="InService", state=state)
            return self.em.get(rec.name)
        if update.get("phase") == "Terminating" and update.get("generation") is not None:
            state["config"], state["models"] = update["config"], update["models"]
            state["variants"] = [dict(v, Generation=update["generation"]) for v in update["variants"]]
            if update.get("requestedPolicy"):
                state["lastDeploymentConfig"] = update["requestedPolicy"]
            self.em.store.update(
                KIND,
                rec.name,
                status="InService",
                failure_reason=None,
                state=state,
                event="UpdateSucceeded",
                detail={"afterRestart": True},
            )
        else:
            reason = (
                f"The deployment of endpoint configuration {update['config']['EndpointConfigName']} was interrupted"
                f" by a daemon restart during {update.get('phase')} and was rolled back."
            )
            self.em.store.update(
                KIND,
                rec.name,
                status="InService",
                failure_reason=reason,
                state=state,
                event="UpdateRolledBack",
                detail={"reason": reason, "afterRestart": True},
            )
        return self.em.get(rec.name)

    # UpdateEndpointWeightsAndCapacities ----------------------------------------------------------
    async def update_weights(self, req: dict[str, Any]) -> dict[str, Any]:
        # Member constraints were checked at the API edge (api.shapes).
        changes = req["DesiredWeightsAndCapacities"]
        rec = self.em.get(req["EndpointName"])
        if rec.status != "InService":
            raise ValidationException(f'Cannot update in-progress endpoint "{rec.arn}".')
        current = {v["VariantName"]: v for v in rec.state.get("variants", [])}
        unknown = [ch["VariantName"] for ch in changes if ch["VariantName"] not in current]
        if unknown:
            raise ValidationException(
                f'The variant(s) "[{", ".join(unknown)}]" is/are not present in the endpoint "{rec.arn}".'
            )
        variants = []
        for v in rec.state["variants"]:
            ch = next((x for x in changes if x["VariantName"] == v["VariantName"]), None)
            v = dict(v)
            if ch and ch.get("DesiredWeight") is not None:
                v["DesiredWeight"] = float(ch["DesiredWeight"])
            if ch and ch.get("DesiredInstanceCount") is not None:
                v["DesiredInstanceCount"] = int(ch["DesiredInstanceCount"])
            variants.append(v)
        self.em.instances.check_endpoint(
            rec.name,
            variant_counts(variants, "DesiredInstanceCount"),
            before=variant_counts(rec.state["variants"], "DesiredInstanceCount"),
            beside=False,
        )
        self.em.store.update(
            KIND,
            rec.name,
            status="Updating",
            failure_reason=None,
            state=dict(rec.state, variants=variants),
            event="WeightsAndCapacitiesUpdating",
        )
        self.em.status[rec.name] = "Updating"
        self.em.spawn(rec.name, self._scale(rec.name))
        return {"EndpointArn": rec.arn}

    async def _scale(self, name: str) -> None:
        async with self.em.lock(name):
            rec = self.em.get(name)
            fleets = self.em.fleets.get(name, {})
            try:
                for v in rec.state["variants"]:
                    fleet = fleets.get(v["VariantName"])
                    if fleet is None:
                        continue
                    want = int(v["DesiredInstanceCount"])
                    have = len(fleet.instances)
                    if want > have:
                        start = max([i.handle.index for i in fleet.instances], default=0) + 1
                        new = await asyncio.gather(
                            *(self.em.launcher.start_instance(fleet, start + k) for k in range(want - have)),
                            return_exceptions=True,
                        )
                        good = [n for n in new if not isinstance(n, BaseException)]
                        bad = [n for n in new if isinstance(n, BaseException)]
                        if bad:
                            await self.em.launcher.stop_instances(good, 0)
                            raise DeploymentFailed(" ".join(str(b) for b in bad))
                        fleet.instances.extend(good)  # healthy before they get traffic
                    elif want < have:
                        victims = fleet.instances[want:]
                        del fleet.instances[want:]  # out of rotation first, then drained
                        await self.em.launcher.drain(victims, self.em.router.container_timeout)
                        await self.em.launcher.stop_instances(victims)
                rec = self.em.get(name)
                variants = [dict(v, CurrentWeight=v["DesiredWeight"]) for v in rec.state["variants"]]
                self.em.store.update(
                    KIND,
                    name,
                    status="InService",
                    state=dict(rec.state, variants=variants),
                    event="WeightsAndCapacitiesUpdated",
                )
                self.em.install_route(name, self.em.specs_for(self.em.get(name)))
            except Exception as exc:  # noqa: BLE001 - report it on the endpoint, keep serving
                rec = self.em.get(name)
                variants = [
                    dict(
                        v,
                        DesiredWeight=v.get("CurrentWeight", 1.0),
                        DesiredInstanceCount=len(fleets[v["VariantName"]].instances)
                        if v["VariantName"] in fleets
                        else v["DesiredInstanceCount"],
                    )
                    for v in rec.state["variants"]
                ]
                self.em.store.update(
                    KIND,
                    name,
                    status="InService",
                    failure_reason=f"Scaling failed: {exc}"[:1024],
                    state=dict(rec.state, variants=variants),
                    event="WeightsAndCapacitiesFailed",
                )
            self.em.status[name] = "InService"

    def describe_extra(self, name: str) -> dict[str, Any] | None:
        live = self.live.get(name)
        if not live:
            return None
        out = dict(live)
        if "BakeEndsAt" in out:
            out["BakeSecondsLeft"] = max(0.0, round(out["BakeEndsAt"] - self.clock.time(), 1))
        return out
