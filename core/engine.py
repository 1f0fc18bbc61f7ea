"""The engine assembled: store, metrics, fleets, router, endpoints, deployments, alarms, transform
jobs and the operations over them, wired to one runtime. Design notes: docs/daemon.md."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inferpipe.core.api.operations import Handler, Operations, operation_table
from inferpipe.core.api.service import SageMakerService
from inferpipe.core.batch.jobs import TransformManager
from inferpipe.core.config import Settings
from inferpipe.core.containers.fleet import FleetLauncher
from inferpipe.core.containers.hostpaths import HostPathPolicy
from inferpipe.core.containers.modeldata import ModelCache
from inferpipe.core.containers.modeltree import TreeLimits
from inferpipe.core.containers.runtime import Runtime, RuntimeProblem
from inferpipe.core.serving.alarms import Alarms
from inferpipe.core.serving.blue_green import Deployments
from inferpipe.core.serving.capture import CaptureFactory, capture_writer
from inferpipe.core.serving.endpoints import EndpointManager
from inferpipe.core.serving.metrics import Metrics
from inferpipe.core.serving.router import DEFAULT_CONTAINER_TIMEOUT, Router
from inferpipe.core.store import Store
from inferpipe.core.timing import Timing

if TYPE_CHECKING:
    from inferpipe.core.s3.objects import S3Objects

log = logging.getLogger("inferpipe.engine")


@dataclass
class Engine:
    settings: Settings
    store: Store
    runtime: Runtime
    metrics: Metrics
    launcher: FleetLauncher
    router: Router
    endpoints: EndpointManager
    deployments: Deployments
    service: SageMakerService
    transforms: TransformManager
    operations: Operations

    async def start(self) -> None:
        """Re-adopt what a previous daemon left running, then serve and watch it."""
        try:
            await self.endpoints.adopt()
        except RuntimeProblem as exc:
            log.warning("not adopting containers: %s", exc)
        except Exception:  # noqa: BLE001 - serve the control plane even if adoption broke
            log.exception("re-adopting containers failed")
        finally:
            self.router.ready.set()
        await self.transforms.adopt()
        self.endpoints.start_monitor()

    async def stop(self) -> None:
        """Stop working, leaving endpoint containers running for the next daemon to re-adopt."""
        await self.endpoints.stop_monitor()
        await self.transforms.shutdown()
        for task in list(self.endpoints.tasks.values()):
            task.cancel()

    async def close(self) -> None:
        """Release connections and the store, once nothing serves any more."""
        await self.router.close()
        await self.launcher.close()
        self.store.close()


def _s3_objects(settings: Settings) -> S3Objects:
    # imported on first use: boto3 costs the daemon's start a few hundred milliseconds it rarely needs
    from inferpipe.core.s3.client import s3_objects

    return s3_objects(settings)


def build_engine(
    settings: Settings,
    runtime: Runtime,
    *,
    max_startup_timeout: int | None = None,
    container_timeout: float = DEFAULT_CONTAINER_TIMEOUT,
    timing: Timing | None = None,
    shutdown: Handler | None = None,
) -> Engine:
    timing = timing or Timing()
    store = Store(settings.db_path)
    metrics = Metrics()
    # The engine's data root is only asked for when a path is checked, so the control plane
    # works while no engine runs.
    host_paths = HostPathPolicy.from_settings(settings, docker_root=lambda: runtime.data_root())
    limits = TreeLimits(settings.max_model_data_bytes, settings.max_model_data_members)
    launcher = FleetLauncher(
        runtime,
        ModelCache(settings.model_cache, host_paths, limits, s3=lambda: _s3_objects(settings)),
        max_startup_timeout,
        settings,
        stop_grace=settings.stop_grace,
        timing=timing,
    )
    launcher.record_event = store.record_event
    endpoints: EndpointManager
    router = Router(
        settings,
        metrics,
        status_of=lambda name: endpoints.status.get(name),
        on_instance_trouble=lambda fleet, inst: endpoints.instance_trouble(fleet, inst),
        container_timeout=container_timeout,
    )
    router.capture = CaptureFactory(capture_writer(settings, metrics), host_paths)
    endpoints = EndpointManager(settings, store, runtime, launcher, router, timing)
    deployments = Deployments(endpoints, Alarms(store, metrics))
    endpoints.deployments = deployments
    service = SageMakerService(settings, store, endpoints, metrics)
    transforms = TransformManager(settings, store, runtime, launcher, host_paths)
    operations = Operations(operation_table(service, transforms, shutdown))
    return Engine(
        settings, store, runtime, metrics, launcher, router, endpoints, deployments, service, transforms, operations
    )
