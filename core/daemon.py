"""The daemon process: the single owner of state and containers for one INFERPIPE_HOME.

Run it with ``inferpipe daemon start`` (detached) or ``python -m inferpipe.core.daemon``
(foreground, for supervisors). It holds an exclusive lock on the home directory, so two
daemons never own one home, and leaves containers running when it stops: the next daemon
re-adopts them by their labels.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from .alarms import Alarms
from .config import Settings
from .deployments import Deployments
from .endpoints import EndpointManager
from .fleet import FleetLauncher
from .hostpaths import HostPathPolicy
from .http_api import build_app
from .metrics import Metrics
from .modeldata import ModelCache
from .modeltree import TreeLimits
from .router import Router
from .runtime import DockerRuntime, RuntimeProblem
from .service import SageMakerService
from .store import Store
from .transform import TransformManager

log = logging.getLogger("inferpipe.daemon")


class HomeLocked(Exception):
    pass


def acquire_lock(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        owner = fh.read().strip() or "unknown"
        fh.close()
        raise HomeLocked(f"Another inferpipe daemon (pid {owner}) owns {path.parent}.") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


class LazyRuntime:
    """Connects to Docker on first use and again after a failure, so the control plane works
    (and says clearly what is wrong) while no engine runs."""

    def __init__(self, home_id: str) -> None:
        self.home_id = home_id
        self._real: DockerRuntime | None = None

    def _get(self) -> DockerRuntime:
        if self._real is None:
            self._real = DockerRuntime(self.home_id)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.db_path)
        self.metrics = Metrics()
        self.runtime = LazyRuntime(settings.home_id)
        cap = os.environ.get("INFERPIPE_MAX_STARTUP_HEALTH_TIMEOUT")
        self.host_paths = HostPathPolicy.from_settings(settings, docker_root=lambda: self.runtime.data_root())
        limits = TreeLimits(settings.max_model_data_bytes, settings.max_model_data_members)
        cache = ModelCache(settings.model_cache, self.host_paths, limits)
        self.launcher = FleetLauncher(self.runtime, cache, int(cap) if cap else None, settings)
        timeout = float(os.environ.get("INFERPIPE_CONTAINER_TIMEOUT", "60"))
        self.endpoints: EndpointManager
        self.router = Router(
            settings,
            self.metrics,
            status_of=lambda name: self.endpoints.status.get(name),
            on_instance_trouble=lambda fleet, inst: self.endpoints.instance_trouble(fleet, inst),
            container_timeout=timeout,
        )
        self.endpoints = EndpointManager(settings, self.store, self.runtime, self.launcher, self.router)
        self.endpoints.deployments = Deployments(self.endpoints, Alarms(self.store, self.metrics))
        self.service = SageMakerService(settings, self.store, self.endpoints, self.metrics)
        self.transforms = TransformManager(settings, self.store, self.runtime, self.launcher, self.host_paths)
        self.service.operations.update(self.transforms.operations())
        self.service.extensions["Shutdown"] = self._shutdown_op
        self.stopping = asyncio.Event()

    async def _shutdown_op(self, _req: dict[str, Any]) -> dict[str, Any]:
        asyncio.get_running_loop().call_later(0.1, self.stopping.set)
        return {"stopping": True}

    async def run(self) -> None:
        app = build_app(self.service, self.router, self.metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port, reuse_address=True)
        await site.start()
        log.info("inferpipe daemon %s listening on %s (home %s)", os.getpid(), self.settings.url, self.settings.home)
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
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        await self.stopping.wait()
        log.info("stopping (containers keep running and are re-adopted by the next daemon)")
        await self.endpoints.stop_monitor()
        await self.transforms.shutdown()
        for task in list(self.endpoints.tasks.values()):
            task.cancel()
        await runner.cleanup()
        await self.router.close()
        await self.launcher.close()
        self.store.close()


def run(coro: Any) -> None:
    """uvloop where it is installed: the data plane spends its time in the event loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


def main() -> int:
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a malformed INFERPIPE_* setting: say which, not a traceback
        print(f"inferpipe daemon: {exc}", file=sys.stderr)
        return 2
    settings.home.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=os.environ.get("INFERPIPE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        lock = acquire_lock(settings.lock_path)
    except HomeLocked as exc:
        log.error("%s", exc)
        return 3
    settings.pid_path.write_text(str(os.getpid()))
    try:
        run(Daemon(settings).run())
    except OSError as exc:
        log.error("cannot serve on %s: %s (set INFERPIPE_PORT to another port)", settings.url, exc)
        return 4
    finally:
        settings.pid_path.unlink(missing_ok=True)
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
