"""A fleet: one production variant's instances, each the model's whole container chain.
Design notes: docs/serving.md."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from inferpipe.core.config import Settings
from inferpipe.core.containers.downloads import DownloadBoard
from inferpipe.core.containers.images import ensure_image
from inferpipe.core.containers.instance_types import ContainerLimits, container_limits
from inferpipe.core.containers.modeldata import ModelCache, ModelDataError
from inferpipe.core.containers.runtime import STOP_TIMEOUT, ImageInfo, InstanceHandle, Runtime, RuntimeProblem
from inferpipe.core.containers.s3env import container_s3_env
from inferpipe.core.spec import ModelSpec, VariantSpec
from inferpipe.core.timing import Timing

log = logging.getLogger("inferpipe.fleet")

PING_TIMEOUT = 2.0
FIRST_PING_DELAY = 0.01  # seconds before the second health ping; doubles up to Timing.ping_interval


class FleetStartError(Exception):
    pass


@dataclass
class Instance:
    handle: InstanceHandle
    healthy: bool = True
    inflight: int = 0

    @property
    def instance_id(self) -> str:
        return self.handle.instance_id


@dataclass
class Fleet:
    owner_kind: str
    owner: str
    variant: VariantSpec
    generation: int
    images: list[ImageInfo] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    model_dirs: list[Path | None] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    limits: ContainerLimits | None = None
    pins: list[Path] = field(default_factory=list)  # model-data cache entries held until stop()
    _rr: itertools.count = field(default_factory=itertools.count)

    @property
    def model(self) -> ModelSpec:
        return self.variant.model

    def healthy_instances(self) -> list[Instance]:
        return [i for i in self.instances if i.healthy]

    def pick(self) -> Instance | None:
        healthy = self.healthy_instances()
        if not healthy:
            return None
        return healthy[next(self._rr) % len(healthy)]

    @property
    def inflight(self) -> int:
        return sum(i.inflight for i in self.instances)


class FleetLauncher:
    """Starts, health-checks, replaces and stops fleets. Docker calls run in worker threads."""

    def __init__(
        self,
        runtime: Runtime,
        cache: ModelCache,
        max_startup_timeout: int | None = None,
        settings: Settings | None = None,
        *,
        stop_grace: float = STOP_TIMEOUT,
        timing: Timing | None = None,
    ) -> None:
        self.runtime = runtime
        self.cache = cache
        self.max_startup_timeout = max_startup_timeout
        self.settings = settings
        self.stop_grace = stop_grace  # seconds between SIGTERM and SIGKILL when instances are stopped
        self.timing = timing or Timing()
        self._session: aiohttp.ClientSession | None = None
        # Every fleet started or adopted and not yet stopped, whoever owns it.
        self._live: dict[int, Fleet] = {}
        # the store's event log (set by the engine's wiring): large downloads report progress there
        self.record_event: Callable[[str, str, str, dict[str, Any]], None] | None = None
        self.downloads = DownloadBoard()  # downloads in flight, for DescribeEndpoint to show

    def _download_events(self, owner_kind: str, owner: str) -> Callable[[str, int, int], None] | None:
        """A large model-data download's progress, as events of the endpoint or job it is for
        (recorded on the event loop: the download runs in a worker thread)."""
        record = self.record_event
        if record is None:
            return None
        loop = asyncio.get_running_loop()

        def progress(uri: str, received: int, total: int) -> None:
            detail = {"uri": uri, "bytes": received, "total": total}
            loop.call_soon_threadsafe(record, owner_kind, owner, "ModelDataDownload", detail)

        return progress

    def _download_progress(
        self, owner_kind: str, owner: str
    ) -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
        """Progress onto the board (from the worker thread, at once) and into the event log, and the
        call that ends it: a download whose waiter was cancelled runs on in its thread, and must not put
        an entry back on the board after that."""
        events = self._download_events(owner_kind, owner)
        ended = threading.Event()

        def progress(uri: str, received: int, total: int) -> None:
            self.downloads.update(owner_kind, owner, uri, received, total, ended)
            if events is not None:
                events(uri, received, total)

        def end() -> None:
            ended.set()
            self.downloads.finish(owner_kind, owner)

        return progress, end

    def register(self, fleet: Fleet) -> None:
        self._live[id(fleet)] = fleet

    def collect_model_data(self) -> None:
        """Remove model data no fleet pins any more."""
        self.cache.collect()

    def release_model_data(self, fleet: Fleet) -> None:
        for entry in fleet.pins:
            self.cache.release(entry)
        fleet.pins.clear()

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PING_TIMEOUT))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def prepare(
        self,
        owner_kind: str,
        owner: str,
        variant: VariantSpec,
        generation: int,
        extra_env: dict[str, str] | None = None,
        model_data: list[str] | None = None,
    ) -> Fleet:
        """Check images and model data; nothing is started yet. ``model_data`` names cache entries the
        fleet's running containers already mount (found again after a daemon restart): they are kept
        rather than made again. The fleet holds pins on its model data until ``stop``."""
        s3_env = await asyncio.to_thread(container_s3_env, self.settings) if self.settings else {}
        fleet = Fleet(owner_kind, owner, variant, generation, extra_env={**s3_env, **(extra_env or {})})
        problems: list[str] = []
        pull = self.settings.image_pull if self.settings else "never"
        for cont in variant.model.containers:
            try:
                await asyncio.to_thread(ensure_image, self.runtime, cont.image, pull)
                info = await asyncio.to_thread(self.runtime.inspect_image, cont.image)
            except RuntimeProblem as exc:
                problems.append(f"{cont.hostname}: {exc}")
                continue
            if variant.model.is_pipeline and len(variant.model.containers) > 1 and not info.accepts_bind_to_port:
                problems.append(
                    f"{cont.hostname}: image {cont.image} does not carry the label"
                    " com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true, which every container of a"
                    " multi-container model needs (add LABEL com.amazonaws.sagemaker.capabilities."
                    "accept-bind-to-port=true to its Dockerfile)."
                )
            fleet.images.append(info)
        if problems:  # no model data is read for a fleet that cannot start anyway
            raise FleetStartError(f"Production variant {variant.name} could not be created. " + " ".join(problems))
        try:
            for i, cont in enumerate(variant.model.containers):
                if not cont.has_model_data:
                    fleet.model_dirs.append(None)
                    continue
                known = model_data[i] if model_data and i < len(model_data) else ""
                entry = self.cache.pin_existing(known) if known else None
                progress, end = self._download_progress(owner_kind, owner)
                try:
                    entry = entry or await asyncio.to_thread(self.cache.materialize_container, cont, progress)
                except ModelDataError as exc:
                    problems.append(f"{cont.hostname}: {exc}")
                    fleet.model_dirs.append(None)
                    continue
                finally:
                    end()
                fleet.pins.append(entry)
                fleet.model_dirs.append(entry)
            if problems:
                raise FleetStartError(f"Production variant {variant.name} could not be created. " + " ".join(problems))
            fleet.limits = await asyncio.to_thread(self.limits_for, variant)
        except BaseException:
            self.release_model_data(fleet)
            raise
        return fleet

    def limits_for(self, variant: VariantSpec) -> ContainerLimits:
        settings = self.settings
        try:
            host_memory = self.runtime.engine_memory()
        except Exception:  # noqa: BLE001 - the engine's answer only caps the table's figure
            host_memory = None
        return container_limits(
            variant.instance_type,
            len(variant.model.containers),
            host_memory,
            settings.container_memory if settings else None,
            settings.container_pids if settings else 0,
        )

    async def launch(self, fleet: Fleet) -> Fleet:
        try:
            started = await asyncio.gather(
                *(self.start_instance(fleet, i) for i in range(1, fleet.variant.instance_count + 1)),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            await self.stop(fleet, timeout=0)
            raise
        failures = [s for s in started if isinstance(s, BaseException)]
        fleet.instances.extend(s for s in started if isinstance(s, Instance))
        if failures:
            await self.stop(fleet, timeout=0)
            reasons = sorted({str(f) for f in failures})
            raise FleetStartError(" ".join(reasons))
        self.register(fleet)
        return fleet

    async def start_instance(self, fleet: Fleet, index: int) -> Instance:
        try:
            handle = await asyncio.to_thread(
                self.runtime.start_instance,
                fleet.owner_kind,
                fleet.owner,
                fleet.variant.name,
                fleet.generation,
                index,
                fleet.model,
                fleet.model_dirs,
                fleet.extra_env,
                fleet.images,
                fleet.limits,
            )
        except RuntimeProblem as exc:
            raise FleetStartError(
                f"{exc}. Please ensure the model container for variant {fleet.variant.name} starts correctly"
                " when invoked with 'docker run <image> serve'."
            ) from exc
        instance = Instance(handle)
        try:
            await self.wait_healthy(fleet, handle)
            await asyncio.to_thread(self.runtime.promote, handle)
        except BaseException:
            await self.stop_handles([handle], 0)
            raise
        return instance

    async def wait_healthy(self, fleet: Fleet, handle: InstanceHandle) -> None:
        timeout = fleet.variant.startup_timeout
        if self.max_startup_timeout:
            timeout = min(timeout, self.max_startup_timeout)
        clock = self.timing.clock
        deadline = clock.monotonic() + timeout
        pending = {c.hostname: c for c in handle.containers}
        session = await self.session()
        # Most servers answer within a few tens of milliseconds of their start: the first pings come
        # soon after, then back off to the ping interval, so a quick container is not kept waiting a
        # whole interval (a transform job's wall time pays that on every run).
        delay = min(FIRST_PING_DELAY, self.timing.ping_interval)
        while pending:
            conts = list(pending.items())
            answers = await asyncio.gather(*(self.ping(session, cont.url) for _, cont in conts))
            for (hostname, cont), ok in zip(conts, answers, strict=True):
                if ok:
                    del pending[hostname]
                    continue
                # only a container that did not answer is looked at: one engine call less per poll
                status = await asyncio.to_thread(self.runtime.status, cont.container_id)
                if not status.running:
                    raise FleetStartError(
                        f"Container {hostname} of production variant {fleet.variant.name} exited during start-up"
                        f" with code {status.exit_code}. Log tail: {status.log_tail.strip()[-600:]}"
                    )
            if not pending:
                return
            if clock.monotonic() > deadline:
                tails = []
                for hostname, cont in pending.items():
                    tail = await asyncio.to_thread(self.runtime.logs, cont.container_id, 10)
                    tails.append(f"{hostname} (log tail: {tail.strip()[-300:] or 'empty'})")
                raise FleetStartError(
                    f"The container(s) {', '.join(pending)} for production variant {fleet.variant.name} did not pass"
                    f" the ping health check within {timeout} s. " + "; ".join(tails)
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.timing.ping_interval)

    @staticmethod
    async def ping(session: aiohttp.ClientSession, url: str) -> bool:
        try:
            async with session.get(f"{url}/ping") as resp:  # the session's timeout is PING_TIMEOUT
                await resp.read()
                return resp.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

    async def instance_alive(self, instance: Instance) -> bool:
        session = await self.session()
        for cont in instance.handle.containers:
            status = await asyncio.to_thread(self.runtime.status, cont.container_id)
            if not status.running or not await self.ping(session, cont.url):
                return False
        return True

    async def drain(self, instances: list[Instance], limit: float) -> None:
        """Wait for in-flight requests to finish, bounded by the invocation timeout."""
        clock = self.timing.clock
        deadline = clock.monotonic() + limit
        while any(i.inflight for i in instances) and clock.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # Every stop goes through stop_handles: one runtime call for everything being stopped, so all
    # their containers get SIGTERM together and the grace period is spent once, not per container.
    async def stop_handles(
        self, handles: list[InstanceHandle], timeout: float | None = None, *, idle: bool = False
    ) -> None:
        """Stop these instances together; timeout (SIGTERM to SIGKILL) defaults to the stop grace.
        idle: nothing is in flight to them (see Runtime.stop_instances)."""
        if handles:
            grace = self.stop_grace if timeout is None else timeout
            await asyncio.to_thread(self.runtime.stop_instances, handles, grace, idle=idle)

    async def stop_instances(self, instances: list[Instance], timeout: float | None = None) -> None:
        await self.stop_handles([i.handle for i in instances], timeout)

    async def stop(self, fleet: Fleet, timeout: float | None = None, *, idle: bool = False) -> None:
        await self.stop_fleets([fleet], timeout, idle=idle)

    async def stop_fleets(
        self,
        fleets: list[Fleet],
        timeout: float | None = None,
        extra: list[InstanceHandle] | None = None,
        *,
        idle: bool = False,
    ) -> None:
        """Forget the fleets and stop all their instances, and ``extra`` handles, together."""
        handles = [i.handle for f in fleets for i in f.instances] + (extra or [])
        for fleet in fleets:
            self.forget(fleet)
        await self.stop_handles(handles, timeout, idle=idle)
        # only once their containers are gone: if stopping failed, the data stays pinned (kept, not lost)
        for fleet in fleets:
            self.release_model_data(fleet)

    def forget(self, fleet: Fleet) -> None:
        """Take a fleet out of the launcher's books (its model data may then be collected); the
        caller stops its instances."""
        fleet.instances.clear()
        self._live.pop(id(fleet), None)
