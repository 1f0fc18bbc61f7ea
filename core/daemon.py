"""The daemon process: the single owner of state and containers for one INFERPIPE_HOME.
Design notes: docs/daemon.md."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from inferpipe.core import daemon_log
from inferpipe.core.api.guard import Policy, SetupError
from inferpipe.core.api.http import build_app
from inferpipe.core.api.http_limits import GuardedAppRunner
from inferpipe.core.config import ConfigError, Settings
from inferpipe.core.containers.log_archive import LogArchive
from inferpipe.core.containers.runtime import DockerRuntime
from inferpipe.core.daemon_identity import DaemonIdentity
from inferpipe.core.engine import build_engine
from inferpipe.core.home import DAEMON_UMASK, HomeProblem, ensure_home, home_problem, secure_home
from inferpipe.core.memory import fix_mmap_threshold
from inferpipe.core.store import StateUnusable

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

    def __init__(self, home_id: str, log_archive: LogArchive | None = None) -> None:
        self.home_id = home_id
        self.log_archive = log_archive
        self._real: DockerRuntime | None = None

    def _get(self) -> DockerRuntime:
        if self._real is None:
            self._real = DockerRuntime(self.home_id, self.log_archive)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


class Daemon:
    def __init__(self, settings: Settings, identity: DaemonIdentity | None = None) -> None:
        self.settings = settings
        self.policy = Policy.from_settings(settings)  # first: credentials exist before anyone can call
        self.runtime = LazyRuntime(
            settings.home_id, LogArchive(settings.home / "container-logs", settings.retained_log_bytes)
        )
        cap = os.environ.get("INFERPIPE_MAX_STARTUP_HEALTH_TIMEOUT")
        self.engine = build_engine(
            settings,
            self.runtime,
            max_startup_timeout=int(cap) if cap else None,
            container_timeout=float(os.environ.get("INFERPIPE_CONTAINER_TIMEOUT", "60")),
            shutdown=self._shutdown_op,
        )
        if identity is not None:
            self.engine.service.status_extra["instanceId"] = identity.instance_id
        self.stopping = asyncio.Event()

    async def _shutdown_op(self, _req: dict[str, Any]) -> dict[str, Any]:
        asyncio.get_running_loop().call_later(0.1, self.stopping.set)
        return {"stopping": True}

    async def run(self) -> None:
        engine = self.engine
        app = build_app(engine.service, engine.operations, engine.router, engine.metrics, self.policy)
        runner = GuardedAppRunner(app, self.settings, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port, reuse_address=True)
        await site.start()
        log.info("inferpipe daemon %s listening on %s (home %s)", os.getpid(), self.settings.url, self.settings.home)
        await self.engine.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        await self.stopping.wait()
        log.info("stopping (containers keep running and are re-adopted by the next daemon)")
        await self.engine.stop()
        await runner.cleanup()
        await self.engine.close()


def run(coro: Any) -> None:
    """uvloop where it is installed: the data plane spends its time in the event loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


def _refused(settings: Settings, exc: Exception) -> int:
    """One log line for a start the daemon cannot make, and its exit code (see ``main``)."""
    if isinstance(exc, HomeLocked):
        code = 3
    elif isinstance(exc, SetupError):
        code = 2
    else:
        code = 5
    plain = isinstance(exc, HomeLocked | HomeProblem | StateUnusable | SetupError)
    log.error("%s", exc if plain or not isinstance(exc, OSError) else home_problem(settings, exc))
    return code


def main() -> int:
    """Exit codes: 0 stopped, 2 a setting is invalid, 3 another daemon owns the home, 4 the port
    cannot be served, 5 the home or its state cannot be used. Each failure is one log line."""
    logging.basicConfig(
        level=os.environ.get("INFERPIPE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    os.umask(DAEMON_UMASK)
    fix_mmap_threshold(settings.malloc_mmap_threshold)  # before any large buffer exists
    try:
        ensure_home(settings)
        daemon_log.configure(settings)
        lock = acquire_lock(settings.lock_path)
    except (HomeLocked, HomeProblem, OSError) as exc:
        return _refused(settings, exc)
    identity = DaemonIdentity.of_this_process(settings.port, settings.home)
    try:
        try:
            secure_home(settings)
            settings.pid_path.write_text(str(os.getpid()))
            identity.save(settings.identity_path)
            daemon = Daemon(settings, identity)
        except (StateUnusable, SetupError, OSError) as exc:
            return _refused(settings, exc)
        try:
            run(daemon.run())
        except OSError as exc:
            log.error("cannot serve on %s: %s (set INFERPIPE_PORT to another port)", settings.url, exc)
            return 4
        return 0
    finally:
        with contextlib.suppress(OSError):
            settings.pid_path.unlink(missing_ok=True)
            identity.remove_if_mine(settings.identity_path)
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
