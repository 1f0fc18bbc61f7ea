"""An in-memory ``Runtime`` for unit tests of the serving state machine.

Instances and their containers are records in dictionaries, and every running container answers
``GET /ping`` and ``POST /invocations`` on its own 127.0.0.1 port, from one small aiohttp server
on the fake's own thread (the fake's "host"). So the engine's health checks and the router's chain
calls are the production code over real HTTP, without Docker, and the fake's containers outlive an
engine that is thrown away, as Docker's outlive a killed daemon.

A container is steered by its Environment, as the echo test image is: ``PING_STATUS`` (what
/ping answers, default 200), ``EXIT_AT_START`` (exit at once with that code), ``ECHO_TAG`` (its
tag in responses, default its hostname). A response is the request body followed by
``|<tag>@<variant>/g<generation>-i<index>`` for every container it went through. Methods make a
container die, an image go missing, a start fail, or the next start or stop block until released.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from inferpipe.core.containers.instance_types import ContainerLimits
from inferpipe.core.containers.runtime import (
    FIRST_PORT,
    ContainerHandle,
    ContainerStatus,
    ImageInfo,
    InstanceHandle,
    RuntimeProblem,
    missing_image,
)
from inferpipe.core.spec import ModelSpec

T = TypeVar("T")
WAIT = 10.0  # bound on any call into the fake's own event loop


@dataclass
class FakeContainer:
    container_id: str
    name: str
    hostname: str
    index: int
    image: str
    env: dict[str, str]
    host_port: int
    instance: FakeInstance
    running: bool = True
    exit_code: int | None = None
    log: list[str] = field(default_factory=list)
    pings: int = 0
    invocations: int = 0
    site: web.SockSite | None = None

    @property
    def tag(self) -> str:
        return self.env.get("ECHO_TAG") or self.hostname


@dataclass
class FakeInstance:
    owner_kind: str
    owner: str
    variant: str
    generation: int
    index: int
    pod_id: str
    containers: list[FakeContainer] = field(default_factory=list)
    pod_running: bool = True
    promoted: bool = False

    @property
    def label(self) -> str:
        return f"{self.variant}/g{self.generation}-i{self.index}"

    @property
    def complete(self) -> bool:
        """Its holder and every container are there and running."""
        return self.pod_running and bool(self.containers) and all(c.running for c in self.containers)


@dataclass(frozen=True)
class StopCall:
    instances: tuple[str, ...]  # labels of the instances stopped together
    timeout: float


class Gate:
    """Blocks the next call of one kind until released; ``reached`` is set once a call waits."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._open = threading.Event()

    def wait(self) -> None:
        self.reached.set()
        self._open.wait(60)

    def release(self) -> None:
        self._open.set()


class FakeRuntime:
    def __init__(self, images: Iterable[str] = ()) -> None:
        self._lock = threading.RLock()
        self.images: dict[str, bool] = {image: True for image in images}  # image -> accepts bind-to-port
        self.pulls: list[tuple[str, dict[str, str] | None]] = []
        self.pullable: set[str] = set()
        self.start_failures: dict[str, str] = {}
        self.instances: dict[str, FakeInstance] = {}  # by holder (pod) id
        self.containers: dict[str, FakeContainer] = {}
        self.stops: list[StopCall] = []
        self._by_port: dict[int, FakeContainer] = {}
        self._ids = itertools.count(1)
        self._gates: dict[str, Gate] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-runtime", daemon=True)
        self._thread.start()
        app = web.Application()
        app.router.add_get("/ping", self._ping)
        app.router.add_post("/invocations", self._invocations)
        self._runner = web.AppRunner(app, access_log=None)
        self._on_loop(self._runner.setup())

    # test controls ------------------------------------------------------------------------------
    def add_image(self, image: str, accepts_bind_to_port: bool = True) -> None:
        self.images[image] = accepts_bind_to_port

    def remove_image(self, image: str) -> None:
        self.images.pop(image, None)

    def kill(self, container_id: str, exit_code: int = 137) -> None:
        """The container's process dies: it stops answering and is reported dead."""
        with self._lock:
            cont = self.containers[container_id]
            cont.running, cont.exit_code = False, exit_code
            cont.log.append(f"{cont.tag}: killed")
        self._close_site(cont)

    def hold_next(self, kind: str) -> Gate:
        """Make the next start_instance ("start") or stop_instances ("stop") call wait for release."""
        gate = self._gates[kind] = Gate()
        return gate

    def live(self, owner: str | None = None) -> list[FakeInstance]:
        """Every instance with anything left of it, optionally of one owner, in a stable order."""
        with self._lock:
            found = [i for i in self.instances.values() if owner is None or i.owner == owner]
        return sorted(found, key=lambda i: (i.owner, i.variant, i.generation, i.index))

    def close(self) -> None:
        for gate in list(self._gates.values()):
            gate.release()
        self._on_loop(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()

    # Runtime -----------------------------------------------------------------------------------
    def inspect_image(self, image: str) -> ImageInfo:
        if image not in self.images:
            raise RuntimeProblem(f"Image {image} is not present in the local Docker engine. inferpipe never pulls.")
        return ImageInfo(image, f"{image.split(':')[0]}@sha256:{'0' * 64}", self.images[image])

    def pull_image(self, image: str, auth: dict[str, str] | None = None) -> None:
        """Pulling "succeeds" for images named in `pullable`, recording the call."""
        self.pulls.append((image, auth))
        if image not in self.pullable:
            raise RuntimeProblem(f"Could not pull image {image}: not found in the registry.")
        self.images[image] = True

    def start_instance(
        self,
        owner_kind: str,
        owner: str,
        variant: str,
        generation: int,
        index: int,
        model: ModelSpec,
        model_dirs: list[Path | None],
        extra_env: dict[str, str],
        images: list[ImageInfo] | None = None,
        limits: ContainerLimits | None = None,
    ) -> InstanceHandle:
        gate = self._gates.pop("start", None)
        if gate is not None:
            gate.wait()
        for cont in model.containers:  # as Docker's: every start checks its images are still here
            if cont.image not in self.images:
                raise RuntimeProblem(missing_image(cont.image))
        for cont in model.containers:
            if cont.image in self.start_failures:
                raise RuntimeProblem(f"CannotStartContainerError: {self.start_failures[cont.image]}")
        inst = FakeInstance(owner_kind, owner, variant, generation, index, pod_id=self._new_id("pod"))
        sockets: list[tuple[FakeContainer, socket.socket]] = []
        with self._lock:
            self.instances[inst.pod_id] = inst
            for i, spec in enumerate(model.containers, 1):
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                cont = FakeContainer(
                    self._new_id("ctr"),
                    f"inferpipe-{owner}-{variant}-g{generation}-i{index}-{spec.hostname}",
                    spec.hostname,
                    i,
                    spec.image,
                    {**spec.environment, **extra_env},
                    sock.getsockname()[1],
                    inst,
                )
                inst.containers.append(cont)
                self.containers[cont.container_id] = cont
                self._by_port[cont.host_port] = cont
                if cont.env.get("EXIT_AT_START"):
                    sock.close()
                    cont.running, cont.exit_code = False, int(cont.env["EXIT_AT_START"])
                    cont.log.append(f"{cont.tag}: exiting at start as asked")
                else:
                    sockets.append((cont, sock))
        # outside the lock: the server's handlers take it on the fake's loop
        for cont, sock in sockets:
            cont.site = web.SockSite(self._runner, sock)
            self._on_loop(cont.site.start())
            cont.log.append(f"{cont.tag} serving")
        return self._handle(inst)

    def engine_memory(self) -> int | None:
        return 8 * 1024**3

    def data_root(self) -> Path | None:
        return Path("/var/lib/docker")

    def status(self, container_id: str) -> ContainerStatus:
        with self._lock:
            cont = self.containers.get(container_id)
            if cont is None:
                return ContainerStatus(False, None, "")
            return ContainerStatus(cont.running, cont.exit_code, "" if cont.running else "\n".join(cont.log[-20:]))

    def promote(self, handle: InstanceHandle) -> None:
        with self._lock:
            inst = self.instances.get(handle.pod_id)
            if inst is not None:
                inst.promoted = True

    def logs(self, container_id: str, tail: int = 20) -> str:
        with self._lock:
            cont = self.containers.get(container_id)
            return "\n".join(cont.log[-tail:]) if cont else ""

    log_archive = None  # the fake keeps no logs of stopped containers

    def log_sources(self, owner_kind: str, owner: str) -> list[tuple[Any, str]]:
        return []

    def timed_logs(self, container_id: str, since: float | None, tail: int | None) -> str:
        return ""

    def stop_instances(self, handles: list[InstanceHandle], timeout: float = 30, *, idle: bool = False) -> None:
        with self._lock:
            doomed = [self._find(h) for h in handles]
            self.stops.append(StopCall(tuple(i.label for i in doomed if i is not None), timeout))
        gate = self._gates.pop("stop", None)
        if gate is not None:
            gate.wait()
        with self._lock:
            for inst in doomed:
                if inst is None:
                    continue
                for cont in inst.containers:
                    cont.running = False
                    self.containers.pop(cont.container_id, None)
                    self._by_port.pop(cont.host_port, None)
            for inst in doomed:  # holders last, as the Docker runtime removes them
                if inst is not None:
                    inst.pod_running = False
                    self.instances.pop(inst.pod_id, None)
        for inst in doomed:
            for cont in inst.containers if inst else []:
                self._close_site(cont)

    def managed(self) -> list[InstanceHandle]:
        with self._lock:
            return [self._handle(i) for i in self.instances.values()]

    def dead_containers(self) -> set[str]:
        with self._lock:
            dead = {c.container_id for c in self.containers.values() if not c.running}
            return dead | {i.pod_id for i in self.instances.values() if not i.pod_running}

    # internals ---------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def _find(self, handle: InstanceHandle) -> FakeInstance | None:
        inst = self.instances.get(handle.pod_id)
        if inst is not None:
            return inst
        return next(  # a half-started instance, known only by its labels
            (
                i
                for i in self.instances.values()
                if (i.owner_kind, i.owner, i.variant, i.generation, i.index)
                == (handle.owner_kind, handle.owner, handle.variant, handle.generation, handle.index)
            ),
            None,
        )

    def _handle(self, inst: FakeInstance) -> InstanceHandle:
        """A fresh handle, as the Docker runtime rebuilds one from labels."""
        return InstanceHandle(
            inst.owner_kind,
            inst.owner,
            inst.variant,
            inst.generation,
            inst.index,
            inst.pod_id,
            [
                ContainerHandle(c.index, c.hostname, c.container_id, c.name, FIRST_PORT + c.index - 1, c.host_port)
                for c in inst.containers
            ],
        )

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(WAIT)

    def _close_site(self, cont: FakeContainer) -> None:
        site, cont.site = cont.site, None
        if site is not None:
            self._on_loop(site.stop())

    def _serving(self, request: web.Request) -> FakeContainer:
        """The container listening on the port the request came in on; a dead one drops the
        connection, as a killed process's socket does."""
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        with self._lock:
            cont = self._by_port.get(port)
        if cont is None or not cont.running:
            if request.transport:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        return cont

    async def _ping(self, request: web.Request) -> web.Response:
        cont = self._serving(request)
        cont.pings += 1
        status = int(cont.env.get("PING_STATUS", "200"))
        return web.Response(status=status, body=b"" if status == 200 else b"not ready")

    async def _invocations(self, request: web.Request) -> web.Response:
        cont = self._serving(request)
        body = await request.read()
        cont.invocations += 1
        return web.Response(
            body=body + f"|{cont.tag}@{cont.instance.label}".encode(),
            content_type=request.content_type or "application/octet-stream",
        )
