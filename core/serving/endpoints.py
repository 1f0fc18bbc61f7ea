"""Endpoints: desired state turned into running fleets, kept healthy, re-adopted after a daemon
restart, and torn down. Design notes: docs/serving.md."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from inferpipe.core.arns import arn
from inferpipe.core.config import Settings
from inferpipe.core.containers.fleet import Fleet, FleetLauncher, FleetStartError, Instance
from inferpipe.core.containers.runtime import Runtime, RuntimeProblem
from inferpipe.core.errors import ValidationException
from inferpipe.core.failure_reason import failure_reason
from inferpipe.core.limits import InstanceBudget, variant_counts
from inferpipe.core.retry import retry
from inferpipe.core.serving.capture import EndpointCapture
from inferpipe.core.serving.plan import EndpointPlan, Recovery, StoredEndpoint, plan_adoption
from inferpipe.core.serving.router import EndpointRoute, Router, VariantRoute
from inferpipe.core.serving.specs import CreateEndpointSpec
from inferpipe.core.serving.state import DeployedImage, EndpointState, EndpointStatus, VariantState
from inferpipe.core.spec import DEFAULT_STARTUP_HEALTH_TIMEOUT, ModelSpec, VariantSpec
from inferpipe.core.store import AlreadyExists, Record, Store
from inferpipe.core.timing import Timing

log = logging.getLogger("inferpipe.endpoints")

KIND = "endpoint"


def variant_specs(config: dict[str, Any], models: dict[str, dict[str, Any]]) -> list[VariantSpec]:
    specs = []
    for v in config["ProductionVariants"]:
        specs.append(
            VariantSpec(
                name=v["VariantName"],
                model=ModelSpec.from_api(models[v["ModelName"]]),
                instance_count=int(v.get("InitialInstanceCount") or 1),
                weight=float(v.get("InitialVariantWeight", 1.0)),
                instance_type=v.get("InstanceType"),
                startup_timeout=int(
                    v.get("ContainerStartupHealthCheckTimeoutInSeconds") or DEFAULT_STARTUP_HEALTH_TIMEOUT
                ),
            )
        )
    return specs


class EndpointManager:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        runtime: Runtime,
        launcher: FleetLauncher,
        router: Router,
        timing: Timing | None = None,
    ) -> None:
        self.settings = settings
        self.timing = timing or Timing()
        self.store = store
        self.runtime = runtime
        self.launcher = launcher
        self.router = router
        self.instances = InstanceBudget(settings, store)
        # endpoint name -> variant name -> fleet serving it
        self.fleets: dict[str, dict[str, Fleet]] = {}
        self.status: dict[str, EndpointStatus] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._healing: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._monitor: asyncio.Task[None] | None = None
        self.deployments: Any = None  # set by the daemon: UpdateEndpoint's machinery (blue_green.py)

    def lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name.lower(), asyncio.Lock())

    # control plane ------------------------------------------------------------------------------
    def get(self, name: str) -> Record:
        rec = self.store.get(KIND, name)
        if rec is None:
            raise ValidationException(f'Could not find endpoint "{arn(self.settings, KIND, name)}".')
        return rec

    def load(self, name: str) -> tuple[Record, EndpointState]:
        rec = self.get(name)
        return rec, EndpointState.from_json(rec.state)

    async def create(self, spec: CreateEndpointSpec) -> dict[str, Any]:
        name = spec.name
        endpoint_arn = arn(self.settings, KIND, name)
        if self.store.get(KIND, name) is not None:
            raise ValidationException(f'Cannot create already existing endpoint "{endpoint_arn}".')
        config, models = self.snapshot(spec.config_name)
        counts = variant_counts(config["ProductionVariants"], "InitialInstanceCount")
        self.instances.check_endpoint(name, counts, beside=True)
        state = EndpointState(config, models, self.desired_variants(config))
        try:
            self.store.insert(
                KIND, name, endpoint_arn, spec.to_record(), status=EndpointStatus.CREATING, state=state.to_json()
            )
        except AlreadyExists:
            raise ValidationException(f'Cannot create already existing endpoint "{endpoint_arn}".') from None
        if spec.tags:
            self.store.set_tags(endpoint_arn, spec.tags)
        self.status[name] = EndpointStatus.CREATING
        self.spawn(name, self._create_fleets(name))
        return {"EndpointArn": endpoint_arn}

    def snapshot(self, config_name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        rec = self.store.get("endpoint-config", config_name)
        if rec is None:
            raise ValidationException(
                f'Could not find endpoint configuration "{arn(self.settings, "endpoint-config", config_name)}".'
            )
        models: dict[str, dict[str, Any]] = {}
        for v in rec.spec["ProductionVariants"]:
            m = self.store.get("model", v["ModelName"])
            if m is None:
                raise ValidationException(f'Could not find model "{arn(self.settings, "model", v["ModelName"])}".')
            models[v["ModelName"]] = m.spec
        return rec.spec, models

    @staticmethod
    def desired_variants(config: dict[str, Any]) -> list[VariantState]:
        return [
            VariantState(
                name=v["VariantName"],
                desired_instance_count=int(v.get("InitialInstanceCount") or 1),
                desired_weight=float(v.get("InitialVariantWeight", 1.0)),
                current_weight=float(v.get("InitialVariantWeight", 1.0)),
            )
            for v in config["ProductionVariants"]
        ]

    def spawn(self, name: str, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks[name.lower()] = task
        task.add_done_callback(
            lambda t: self.tasks.pop(name.lower(), None) if self.tasks.get(name.lower()) is t else None
        )

    @staticmethod
    def specs_for(state: EndpointState) -> list[VariantSpec]:
        out = []
        for s in variant_specs(state.config, state.models):
            d = state.variant(s.name)
            if d:
                s = VariantSpec(
                    s.name, s.model, d.desired_instance_count, d.current_weight, s.instance_type, s.startup_timeout
                )
            out.append(s)
        return out

    def next_generation(self, name: str) -> int:
        _, state = self.load(name)
        gen = state.next_generation
        state.next_generation = gen + 1
        self.store.update(KIND, name, state=state.to_json())
        return gen

    async def launch_variant(self, name: str, spec: VariantSpec, generation: int) -> Fleet:
        fleet = await self.launcher.prepare(KIND, name, spec, generation)
        return await self.launcher.launch(fleet)

    async def _create_fleets(self, name: str) -> None:
        async with self.lock(name):
            _, state = self.load(name)
            specs = self.specs_for(state)
            generation = self.next_generation(name)
            results = await asyncio.gather(
                *(self.launch_variant(name, s, generation) for s in specs), return_exceptions=True
            )
            fleets = [r for r in results if isinstance(r, Fleet)]
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                await self.launcher.stop_fleets(fleets, 0)
                reason = " ".join(
                    str(e) if isinstance(e, FleetStartError) else f"Internal error: {e!r}" for e in errors
                )
                log.warning("endpoint %s failed: %s", name, reason)
                self.status[name] = EndpointStatus.FAILED
                self.store.update(KIND, name, status=EndpointStatus.FAILED, failure_reason=failure_reason(reason))
                return
            self.fleets[name] = {f.variant.name: f for f in fleets}
            self.install_route(name, specs)
            _, state = self.load(name)
            state.variants = [self.variant_state(f, state.variants) for f in fleets]
            self.store.update(KIND, name, status=EndpointStatus.IN_SERVICE, failure_reason=None, state=state.to_json())
            self.status[name] = EndpointStatus.IN_SERVICE

    @staticmethod
    def variant_state(fleet: Fleet, previous: list[VariantState]) -> VariantState:
        """The state of a variant a fleet now serves; its desired weight is kept from ``previous``."""
        before = next((v for v in previous if v.name == fleet.variant.name), None)
        now = time.time()
        return VariantState(
            name=fleet.variant.name,
            generation=fleet.generation,
            desired_instance_count=fleet.variant.instance_count,
            desired_weight=before.desired_weight if before else fleet.variant.weight,
            current_weight=fleet.variant.weight,
            deployed_images=[DeployedImage(i.specified, i.resolved, now) for i in fleet.images],
        )

    def install_route(self, name: str, specs: list[VariantSpec]) -> None:
        fleets = self.fleets.get(name, {})
        mode = specs[0].model.mode if specs else "Serial"
        self.router.install(
            EndpointRoute(
                name=name,
                mode=mode,
                variants=[VariantRoute(s.name, s.weight, fleets[s.name]) for s in specs if s.name in fleets],
                capture=self.capture_for(name, self.load(name)[1].config),
            )
        )

    def capture_for(self, name: str, config: dict[str, Any] | None) -> EndpointCapture | None:
        factory = self.router.capture
        return factory.for_config(name, config) if factory is not None else None

    async def delete(self, name: str) -> None:
        rec = self.get(name)
        self.store.update(KIND, rec.name, status=EndpointStatus.DELETING)
        self.status[rec.name] = EndpointStatus.DELETING
        self.router.remove(rec.name)
        task = self.tasks.get(rec.name.lower())
        if task is not None:
            task.cancel()
        self.spawn(rec.name, self._teardown(rec.name))

    async def remove_generation(self, name: str, generation: int) -> None:
        """Remove every container of one fleet generation of an endpoint, running or not."""
        handles = await asyncio.to_thread(self.runtime.managed)
        doomed = [h for h in handles if h.owner_kind == KIND and h.owner == name and h.generation == generation]
        await self.launcher.stop_handles(doomed, 0)

    async def _teardown(self, name: str) -> None:
        async with self.lock(name):
            fleets = list(self.fleets.pop(name, {}).values())
            instances = [i for f in fleets for i in f.instances]
            await self.launcher.drain(instances, self.router.container_timeout)
            # The fleets' instances and whatever else is left under this name (half-started fleets,
            # earlier generations), all stopped together.
            serving = {(i.handle.variant, i.handle.generation, i.handle.index) for i in instances}
            try:
                handles = await asyncio.to_thread(self.runtime.managed)
            except RuntimeProblem as exc:  # no engine: a daemon start re-runs the teardown of a Deleting endpoint
                log.warning("endpoint %s stays Deleting: cannot list its containers: %s", name, exc)
                return
            leftovers = [
                h
                for h in handles
                if h.owner_kind == KIND and h.owner == name and (h.variant, h.generation, h.index) not in serving
            ]
            await self.launcher.stop_fleets(fleets, extra=leftovers)
            rec = self.store.get(KIND, name)
            if rec is not None:
                self.store.delete(KIND, name)
                self.store.delete_tags(rec.arn, [t["Key"] for t in self.store.tags(rec.arn)])
            self.status.pop(name, None)
            self.launcher.collect_model_data()

    # describe -----------------------------------------------------------------------------------
    def describe(self, name: str) -> dict[str, Any]:
        rec, state = self.load(name)
        fleets = self.fleets.get(rec.name, {})
        variants = []
        for v in state.variants:
            fleet = fleets.get(v.name)
            summary: dict[str, Any] = {"VariantName": v.name}
            if v.deployed_images:
                summary["DeployedImages"] = [i.to_api() for i in v.deployed_images]
            summary["CurrentWeight"] = v.current_weight
            summary["DesiredWeight"] = v.desired_weight
            summary["CurrentInstanceCount"] = len(fleet.healthy_instances()) if fleet else 0
            summary["DesiredInstanceCount"] = v.desired_instance_count
            variants.append(summary)
        out: dict[str, Any] = {
            "EndpointName": rec.name,
            "EndpointArn": rec.arn,
            "EndpointConfigName": state.config["EndpointConfigName"],
            "ProductionVariants": variants,
            "EndpointStatus": rec.status,
            "CreationTime": rec.created,
            "LastModifiedTime": rec.modified,
        }
        if rec.failure_reason:
            out["FailureReason"] = rec.failure_reason
        if state.last_deployment_config:
            out["LastDeploymentConfig"] = state.last_deployment_config
        if state.update is not None:
            out["PendingDeploymentSummary"] = state.update.pending_summary()
        capture = state.config.get("DataCaptureConfig")
        if capture:
            out["DataCaptureConfig"] = {
                "EnableCapture": capture.get("EnableCapture", True),
                "CaptureStatus": "Started" if capture.get("EnableCapture", True) else "Stopped",
                "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage", 0),
                "DestinationS3Uri": capture.get("DestinationS3Uri", ""),
                "KmsKeyId": capture.get("KmsKeyId", ""),
            }
        # Extra, inferpipe-only detail that boto3 ignores: the deployment in progress, and where each
        # instance listens (green ones too while an update runs).
        live = self.deployments.describe_extra(rec.name) if self.deployments else None
        downloads = self.launcher.downloads.snapshot(KIND, rec.name) if rec.status in ("Creating", "Updating") else []
        if downloads:
            out["InferpipeProgress"] = {"ModelDataDownloads": downloads}
        if live:
            out["InferpipeDeployment"] = live
        if self.deployments:
            fleets = {**fleets, **{f"{k} (new)": f for k, f in self.deployments.green.get(rec.name, {}).items()}}
        out["InferpipeInstances"] = [
            {
                "VariantName": f.variant.name,
                "Generation": f.generation,
                "InstanceId": i.instance_id,
                "Healthy": i.healthy,
                "Containers": [
                    {"ContainerHostname": c.hostname, "ContainerName": c.name, "HostPort": c.host_port}
                    for c in i.handle.containers
                ],
            }
            for f in fleets.values()
            for i in f.instances
        ]
        return out

    def summary(self, rec: Record) -> dict[str, Any]:
        return {
            "EndpointName": rec.name,
            "EndpointArn": rec.arn,
            "CreationTime": rec.created,
            "LastModifiedTime": rec.modified,
            "EndpointStatus": rec.status,
        }

    # health --------------------------------------------------------------------------------------
    def start_monitor(self) -> None:
        self._monitor = asyncio.get_running_loop().create_task(self._monitor_loop())

    async def stop_monitor(self) -> None:
        if self._monitor:
            self._monitor.cancel()

    async def _monitor_loop(self) -> None:
        trouble: str | None = None  # the last failure logged: a down engine is logged once, not every second
        while True:
            await asyncio.sleep(self.timing.monitor_interval)
            try:
                dead = await asyncio.to_thread(self.runtime.dead_containers)
            except Exception as exc:  # noqa: BLE001 - the engine may hiccup; try again next tick
                if str(exc) != trouble:
                    if isinstance(exc, RuntimeProblem):
                        log.warning("monitor: cannot list containers: %s", exc)
                    else:
                        log.exception("monitor: cannot list containers")
                    trouble = str(exc)
                continue
            if trouble is not None:
                log.info("monitor: listing containers works again")
                trouble = None
            for name, fleets in list(self.fleets.items()):
                if self.status.get(name) not in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING):
                    continue
                for fleet in list(fleets.values()):
                    for inst in list(fleet.instances):
                        if inst.handle.pod_id in dead or any(c.container_id in dead for c in inst.handle.containers):
                            inst.healthy = False
                            self.instance_trouble(fleet, inst)

    def instance_trouble(self, fleet: Fleet, instance: Instance) -> None:
        key = f"{fleet.owner}/{fleet.variant.name}/{instance.instance_id}"
        if key in self._healing:
            return
        self._healing.add(key)
        task = asyncio.get_running_loop().create_task(self._heal(fleet, instance))
        task.add_done_callback(lambda _t: self._healing.discard(key))

    async def _heal(self, fleet: Fleet, instance: Instance) -> None:
        if await self.launcher.instance_alive(instance):
            instance.healthy = True
            return
        log.warning("instance %s of %s/%s is down: replacing it", instance.instance_id, fleet.owner, fleet.variant.name)
        self.store.record_event(
            KIND, fleet.owner, "InstanceReplaced", {"variant": fleet.variant.name, "instance": instance.instance_id}
        )
        if instance in fleet.instances:
            fleet.instances.remove(instance)
        await self.launcher.stop_instances([instance], 0)
        index = max([i.handle.index for i in fleet.instances] + [instance.handle.index]) + 1

        async def replace(n: int) -> None:
            if self.fleets.get(fleet.owner, {}).get(fleet.variant.name) is not fleet:
                return  # the fleet was replaced or deleted meanwhile
            fleet.instances.append(await self.launcher.start_instance(fleet, index + n))

        def failed(exc: Exception) -> None:
            log.warning("replacement of %s failed: %s", instance.instance_id, exc)

        try:
            await retry(
                replace,
                attempts=3,
                retry_on=lambda exc: isinstance(exc, FleetStartError),
                delay=self.timing.heal_retry,
                on_retry=lambda _n, exc: failed(exc),
            )
        except FleetStartError as exc:
            failed(exc)

    # adoption after a restart ----------------------------------------------------------------------
    async def adopt(self) -> None:
        handles = await asyncio.to_thread(self.runtime.managed)
        records = self.store.all(KIND)
        plan = plan_adoption(
            (
                StoredEndpoint(
                    r.name, EndpointStatus(r.status or EndpointStatus.CREATING), EndpointState.from_json(r.state)
                )
                for r in records
            ),
            handles,
            converge=self.deployments is not None,
        )
        log.info("adopting: %s", plan.summary())
        if plan.orphans:
            await self.launcher.stop_handles([s.handle for s in plan.orphans], 0)
        for endpoint in plan.endpoints:
            log.info("adopting %s", endpoint.summary())
            self.status[endpoint.name] = endpoint.status
            if endpoint.update is not None:
                self.deployments.converge(endpoint.name, endpoint.update)
            if endpoint.stop:
                await self.launcher.stop_handles([s.handle for s in endpoint.stop], 0)
            if endpoint.recovery == Recovery.TEAR_DOWN:
                self.spawn(endpoint.name, self._teardown(endpoint.name))
            elif endpoint.recovery == Recovery.RECREATE:
                self.spawn(endpoint.name, self._create_fleets(endpoint.name))
            elif endpoint.recovery == Recovery.SERVE:
                await self._adopt_serving(endpoint)

    async def _adopt_serving(self, plan: EndpointPlan) -> None:
        _, state = self.load(plan.name)
        specs = {s.name: s for s in self.specs_for(state)}
        fleets: dict[str, Fleet] = {}
        growth: list[tuple[Fleet, tuple[int, ...]]] = []
        for fp in plan.fleets:
            spec = specs[fp.variant]
            # pin the model data the running containers mount, rather than copying the source again
            known = [""] * len(spec.model.containers)
            for h in fp.adopt:
                for c in h.containers:
                    if 0 < c.index <= len(known) and c.model_data:
                        known[c.index - 1] = c.model_data
            try:
                fleet = await self.launcher.prepare(KIND, plan.name, spec, fp.generation, model_data=known)
            except FleetStartError as exc:
                log.error("cannot re-adopt %s/%s: %s", plan.name, spec.name, exc)
                continue
            alive = [h for h in fp.adopt if await self.launcher.instance_alive(Instance(h))]
            top_up = fp.top_up(alive)
            dead = [h for h in fp.adopt if h not in alive]
            if dead or top_up.stop:
                await self.launcher.stop_handles(dead + list(top_up.stop), 0)
            fleet.instances.extend(Instance(h) for h in top_up.keep)
            fleets[spec.name] = fleet
            self.launcher.register(fleet)
            if top_up.start:
                growth.append((fleet, top_up.start))
        self.fleets[plan.name] = fleets
        self.install_route(plan.name, list(specs.values()))
        self.store.record_event(KIND, plan.name, "Adopted", {v: len(f.instances) for v, f in fleets.items()})
        for fleet, indexes in growth:
            self._spawn_scale(fleet, indexes)

    def _spawn_scale(self, fleet: Fleet, indexes: tuple[int, ...]) -> None:
        async def grow() -> None:
            for index in indexes:
                try:
                    fleet.instances.append(await self.launcher.start_instance(fleet, index))
                except FleetStartError as exc:
                    log.error("could not restore an instance of %s/%s: %s", fleet.owner, fleet.variant.name, exc)

        asyncio.get_running_loop().create_task(grow())
