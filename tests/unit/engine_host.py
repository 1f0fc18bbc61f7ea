"""One daemon's engine for unit tests: the production wiring (build_engine, Engine.start) over a
given runtime, on its own thread and event loop, so a test can drive it from outside and freeze
it mid-operation the way SIGKILL freezes a daemon (nothing of it runs again, no clean-up).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from inferpipe.core.config import Settings
from inferpipe.core.containers.runtime import Runtime
from inferpipe.core.engine import Engine, build_engine
from inferpipe.core.serving.router import Invocation
from inferpipe.core.timing import Timing

T = TypeVar("T")
WAIT = 10.0  # bound on any wait: only ever reached when the engine misbehaves
FROZEN: list[EngineHost] = []  # crashed hosts stay referenced, so their pending tasks are never collected


class ManualClock:
    """Real time plus whatever the test added: a bake, a start-up window or a deadline ends when
    the test moves the clock past it, never by itself within a test's lifetime."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def time(self) -> float:
        return time.time() + self._offset

    def monotonic(self) -> float:
        return time.monotonic() + self._offset


class EngineHost:
    def __init__(self, home: Path, runtime: Runtime, *, stop_grace: float = 30.0) -> None:
        self.clock = ManualClock()
        self.timing = Timing(
            ping_interval=0.005, alarm_poll=0.005, monitor_interval=0.01, heal_retry=0.005, clock=self.clock
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="engine", daemon=True)
        self.thread.start()
        self.settings = Settings(home=home, stop_grace=stop_grace)
        self.engine: Engine = self.run(self._start(runtime))
        self.alive = True

    async def _start(self, runtime: Runtime) -> Engine:
        engine = build_engine(self.settings, runtime, timing=self.timing)
        await engine.start()
        return engine

    # driving it -----------------------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def read(self, fn: Callable[[], T]) -> T:
        """fn() evaluated on the engine's loop, between two of its steps."""

        async def call() -> T:
            return fn()

        return self.run(call())

    def op(self, operation: str, **request: Any) -> dict[str, Any]:
        """A control-plane operation, exactly as the HTTP edge calls it (SageMaker.X or Inferpipe.X)."""
        target = operation if "." in operation else f"SageMaker.{operation}"
        return self.run(self.engine.operations.handler(target)(request))

    def invoke(self, endpoint: str, body: bytes = b"req") -> str:
        result = self.run(self.engine.router.invoke(Invocation(endpoint, body, "text/plain")))
        return result.body.decode()

    def until(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        """Poll predicate (evaluated on the engine's loop) until it holds."""
        deadline = time.monotonic() + timeout
        while not self.read(predicate):
            if time.monotonic() > deadline:
                raise AssertionError(f"never happened: {what}")
            time.sleep(0.002)

    def status(self, endpoint: str) -> str | None:
        rec = self.read(lambda: self.engine.store.get("endpoint", endpoint))
        return rec.status if rec else None

    def wait_status(self, endpoint: str, status: str, *, settled: bool = True) -> dict[str, Any]:
        """Wait until the stored status is `status` and (settled) no operation is running on the
        endpoint; return DescribeEndpoint. Fails at once, with the reason, on an unexpected Failed."""

        def reached() -> bool:  # runs on the engine's loop
            rec = self.engine.store.get("endpoint", endpoint)
            if rec is not None and rec.status == "Failed" and status != "Failed":
                raise AssertionError(f"endpoint {endpoint} failed: {rec.failure_reason}")
            busy = settled and endpoint.lower() in self.engine.endpoints.tasks
            return rec is not None and rec.status == status and not busy

        self.until(reached, f"{endpoint} {status}")
        return self.op("DescribeEndpoint", EndpointName=endpoint)

    def wait_gone(self, endpoint: str) -> None:
        self.until(lambda: self.engine.store.get("endpoint", endpoint) is None, f"{endpoint} deleted")

    def phase(self, endpoint: str) -> tuple[str | None, str | None]:
        live = self.read(lambda: dict(self.engine.deployments.live.get(endpoint, {})))
        return live.get("Phase"), live.get("Step")

    def wait_phase(self, endpoint: str, phase: str, step: str | None = None) -> None:
        self.until(
            lambda: (
                self.engine.deployments.live.get(endpoint, {}).get("Phase") == phase
                and (step is None or self.engine.deployments.live[endpoint].get("Step") == step)
            ),
            f"{endpoint} in {phase} {step or ''}",
        )

    # ending it ------------------------------------------------------------------------------------
    def crash(self) -> None:
        """Freeze the engine where it is, as SIGKILL does: its tasks never run again."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.alive = False
        FROZEN.append(self)

    def close(self) -> None:
        """The daemon's own shutdown: stop working, let cancelled tasks finish, release everything."""
        if not self.alive:
            return
        self.run(self.engine.stop())

        async def settle() -> None:
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in others:
                t.cancel()
            await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), WAIT)

        self.run(settle(), WAIT * 2)
        self.run(self.engine.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()
        self.alive = False
