"""Containers, through the Docker Engine API (docker SDK), behind the ``Runtime`` interface.
Design notes: docs/serving.md."""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import docker
import docker.errors
import yarl
from docker.models.containers import Container

from inferpipe.core.containers import labels
from inferpipe.core.containers.images import absent_image_hint, parse_image, repository_of
from inferpipe.core.containers.instance_types import POD_MEMORY, POD_PIDS, ContainerLimits
from inferpipe.core.containers.log_archive import LogArchive, StreamKey
from inferpipe.core.containers.s3env import HOST_ALIAS
from inferpipe.core.spec import ModelSpec

BIND_TO_PORT_LABEL = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"
FIRST_PORT = 8080
SAFE_RANGE_BASE = 9000
SAFE_RANGE_SIZE = 100
STOP_TIMEOUT = 30  # SageMaker: SIGTERM, then SIGKILL 30 s later
STOP_POLL = 0.1  # while waiting for SIGTERMed containers to exit, at most this long between two looks
FIRST_STOP_POLL = 0.01  # the first pause; each next one doubles, up to STOP_POLL
REMOVE_WORKERS = 8  # concurrent engine calls (starts, updates, removals) of one operation
STARTING_CPU_SHARES = 128
SERVING_CPU_SHARES = 1024  # Docker's default weight
ARCHIVE_TAIL_LINES = 100_000  # the newest lines of a stopped container kept, at most

T = TypeVar("T")


class RuntimeProblem(Exception):
    """Something about the images or the engine that the user must fix; the message says what."""


def missing_image(image: str, image_id: str | None = None) -> str:
    if image_id and image_id != image:
        return (
            f"Image {image} ({image_id[:19]}), which this fleet was deployed with, is no longer present in the"
            " local Docker engine, and inferpipe never pulls. Provide it again (docker load -i FILE, or"
            f" docker build / docker tag to recreate {image}) and update the endpoint to use it."
        )
    return (
        f"Image {image} is not present in the local Docker engine, and inferpipe never pulls. Provide it"
        f" first: docker build -t {image} DIR, docker load -i FILE, or docker tag LOCAL_IMAGE {image}."
        + absent_image_hint(image)
    )


@dataclass(frozen=True)
class ImageInfo:
    specified: str
    resolved: str
    accepts_bind_to_port: bool
    image_id: str = ""  # containers are created from this id: a tag moved since cannot swap the image


@dataclass
class ContainerHandle:
    index: int  # 1-based position in the chain
    hostname: str
    container_id: str
    name: str
    port: int  # inside the namespace
    host_port: int  # published on 127.0.0.1
    model_data: str = ""  # the model-data cache entry it mounts (a label), "" for none

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    @functools.cached_property
    def invocations_url(self) -> yarl.URL:
        # parsed once: the data plane posts here on every request
        return yarl.URL(f"{self.url}/invocations")


@dataclass
class InstanceHandle:
    owner_kind: str  # endpoint | transform-job
    owner: str
    variant: str
    generation: int
    index: int
    pod_id: str
    containers: list[ContainerHandle] = field(default_factory=list)

    @property
    def instance_id(self) -> str:
        return f"g{self.generation}-i{self.index}"


@dataclass(frozen=True)
class ContainerStatus:
    running: bool
    exit_code: int | None
    log_tail: str


class Runtime(Protocol):
    log_archive: LogArchive | None  # where stopped containers' logs are kept, if anywhere

    def inspect_image(self, image: str) -> ImageInfo: ...
    def pull_image(self, image: str, auth: dict[str, str] | None = None) -> None: ...
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
    ) -> InstanceHandle: ...
    def engine_memory(self) -> int | None: ...
    def data_root(self) -> Path | None: ...
    def status(self, container_id: str) -> ContainerStatus: ...
    def promote(self, handle: InstanceHandle) -> None: ...
    def logs(self, container_id: str, tail: int = 20) -> str: ...
    def log_sources(self, owner_kind: str, owner: str) -> list[tuple[StreamKey, str]]: ...
    def timed_logs(self, container_id: str, since: float | None, tail: int | None) -> str: ...
    def stop_instances(
        self, handles: list[InstanceHandle], timeout: float = STOP_TIMEOUT, *, idle: bool = False
    ) -> None: ...
    def managed(self) -> list[InstanceHandle]: ...
    def dead_containers(self) -> set[str]: ...


HOME_TAG = 6  # hex digits of the home's id in container names


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", text)


class DockerRuntime:
    log_archive: LogArchive | None = None

    def __init__(self, home_id: str, log_archive: LogArchive | None = None) -> None:
        self.home_id = home_id
        self.log_archive = log_archive
        try:
            self.client = docker.from_env(timeout=120)
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise RuntimeProblem(
                f"Cannot reach the Docker engine ({exc}). Start it (scripts/ensure-docker.sh does, as root on"
                " Debian) or set DOCKER_HOST."
            ) from exc

    # images -----------------------------------------------------------------------------------
    def inspect_image(self, image: str) -> ImageInfo:
        try:
            img = self.client.images.get(image)
        except docker.errors.ImageNotFound as exc:
            raise RuntimeProblem(missing_image(image)) from exc
        except docker.errors.APIError as exc:
            raise RuntimeProblem(f"Cannot inspect image {image}: {exc.explanation or exc}") from exc
        image_labels = img.labels or {}
        digests = img.attrs.get("RepoDigests") or []
        resolved = digests[0] if digests else f"{repository_of(image)}@{img.id}"
        return ImageInfo(image, resolved, image_labels.get(BIND_TO_PORT_LABEL, "").lower() == "true", img.id)

    def pull_image(self, image: str, auth: dict[str, str] | None = None) -> None:
        """Pull `image` (only ever called under an explicit INFERPIPE_IMAGE_PULL policy)."""
        name = parse_image(image)
        try:
            self.client.images.pull(repository_of(image), tag=name.digest or name.tag or "latest", auth_config=auth)
        except docker.errors.APIError as exc:
            raise RuntimeProblem(
                f"Could not pull image {image}: {exc.explanation or exc}. Provide it locally (docker load -i FILE,"
                f" or docker tag LOCAL_IMAGE {image}) and set INFERPIPE_IMAGE_PULL=never."
            ) from exc

    def _require_image(self, ref: str, image: str) -> None:
        """Every container start checks its image is here first: creating a container never pulls, but
        the message should say what to do rather than Docker's "No such image"."""
        try:
            self.client.images.get(ref)
        except docker.errors.ImageNotFound as exc:
            raise RuntimeProblem(missing_image(image, ref)) from exc

    @functools.cached_property
    def _info(self) -> dict[str, Any]:
        return self.client.info()

    def engine_memory(self) -> int | None:
        """The memory of the machine the engine runs on, in bytes."""
        return int(self._info.get("MemTotal") or 0) or None

    def data_root(self) -> Path | None:
        root = self._info.get("DockerRootDir")
        return Path(root) if root else None

    # instances --------------------------------------------------------------------------------
    def _labels(self, handle: InstanceHandle, role: str) -> dict[str, str]:
        return {
            labels.MANAGED: "1",
            labels.HOME: self.home_id,
            labels.OWNER_KIND: handle.owner_kind,
            labels.OWNER: handle.owner,
            labels.VARIANT: handle.variant,
            labels.GENERATION: str(handle.generation),
            labels.INSTANCE: str(handle.index),
            labels.ROLE: role,
        }

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
        handle = InstanceHandle(owner_kind, owner, variant, generation, index, pod_id="")
        # Docker names are per engine: the home's tag lets two homes serve endpoints of one name
        base = _slug(f"inferpipe-{self.home_id[:HOME_TAG]}-{owner}-{variant}-g{generation}-i{index}")
        n = len(model.containers)
        ports = [FIRST_PORT + i for i in range(n)]
        hosts = {c.hostname: "127.0.0.1" for c in model.containers}
        if any(HOST_ALIAS in value for value in extra_env.values()):
            hosts[HOST_ALIAS] = "host-gateway"  # a host service the containers were pointed at (s3env.py)
        refs = [i.image_id or i.specified for i in images] if images else [c.image for c in model.containers]
        for ref, cont in zip(refs, model.containers, strict=True):
            self._require_image(ref, cont.image)
        limits = limits or ContainerLimits(0, 0)
        # containers.create + start, never containers.run: run() pulls when the image is missing.
        try:
            # The holder only keeps the namespace alive; it runs the first image's shell so no
            # extra image has to exist on a registry-less machine.
            pod: Container = self.client.containers.create(
                refs[0],
                entrypoint=["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"],
                command=[],
                name=f"{base}-pod",
                hostname=_slug(f"{variant}-i{index}")[:63],
                labels=self._labels(handle, labels.ROLE_POD),
                ports={f"{p}/tcp": ("127.0.0.1", None) for p in ports},
                extra_hosts=hosts,
                stop_signal="SIGTERM",
                mem_limit=POD_MEMORY,
                memswap_limit=POD_MEMORY,
                pids_limit=POD_PIDS,
            )
            handle.pod_id = pod.id
            pod.start()
            pod.reload()
            published = pod.attrs["NetworkSettings"]["Ports"]
            members: list[Container] = []
            for i, (cont, port, data_dir) in enumerate(zip(model.containers, ports, model_dirs, strict=True), 1):
                env = {
                    **cont.environment,
                    **extra_env,
                    "SAGEMAKER_BIND_TO_PORT": str(port),
                    "SAGEMAKER_SAFE_PORT_RANGE": (
                        f"{SAFE_RANGE_BASE + SAFE_RANGE_SIZE * (i - 1)}-{SAFE_RANGE_BASE + SAFE_RANGE_SIZE * i - 1}"
                    ),
                    "SAGEMAKER_CONTAINER_HOSTNAME": cont.hostname,
                }
                container_labels = self._labels(handle, labels.ROLE_CONTAINER) | {
                    labels.CONTAINER_HOSTNAME: cont.hostname,
                    labels.CONTAINER_INDEX: str(i),
                    labels.PORT: str(port),
                    labels.POD: pod.id,
                    labels.MODEL_DATA: data_dir.name if data_dir else "",
                }
                volumes = {str(data_dir): {"bind": "/opt/ml/model", "mode": "ro"}} if data_dir else {}
                memory = {"mem_limit": limits.memory, "memswap_limit": limits.memory} if limits.memory else {}
                c: Container = self.client.containers.create(
                    refs[i - 1],
                    command=["serve"],
                    name=f"{base}-{_slug(cont.hostname)}",
                    labels=container_labels,
                    environment=env,
                    volumes=volumes,
                    network_mode=f"container:{pod.id}",
                    # Start-up competes with fleets already serving (a green fleet beside blue):
                    # a low CPU weight until healthy keeps their latency steady; see promote().
                    cpu_shares=STARTING_CPU_SHARES,
                    stop_signal="SIGTERM",
                    # tini as PID 1 forwards SIGTERM: a server without a handler then stops at once
                    # instead of ignoring it (as PID 1 does) until SIGKILL after the grace period.
                    init=True,
                    pids_limit=limits.pids or None,
                    **memory,
                )
                host_port = int(published[f"{port}/tcp"][0]["HostPort"])
                model_data = data_dir.name if data_dir else ""
                handle.containers.append(ContainerHandle(i, cont.hostname, c.id, c.name, port, host_port, model_data))
                members.append(c)
            # Each start is one engine round trip of a tenth of a second or more, and the members only
            # need their holder running: start them together rather than one after another.
            self._each(lambda member: member.start(), members)
        except docker.errors.ImageNotFound as exc:  # removed since the check above: still never pulled
            self.stop_instance(handle, timeout=0)
            raise RuntimeProblem(
                f"An image of this model was removed from the local Docker engine while its containers were being"
                f" created ({exc.explanation or exc}), and inferpipe never pulls. Provide it again (docker build,"
                " docker load or docker tag)."
            ) from exc
        except docker.errors.DockerException as exc:
            self.stop_instance(handle, timeout=0)
            detail = getattr(exc, "explanation", None) or str(exc)
            raise RuntimeProblem(f"CannotStartContainerError: {detail}") from exc
        return handle

    def promote(self, handle: InstanceHandle) -> None:
        """Give a healthy instance's containers their full CPU weight."""

        def update(cont: ContainerHandle) -> None:
            # a container that vanished meanwhile is the health monitor's business
            with contextlib.suppress(docker.errors.DockerException):
                self.client.api.update_container(cont.container_id, cpu_shares=SERVING_CPU_SHARES)

        self._each(update, handle.containers)

    def status(self, container_id: str) -> ContainerStatus:
        try:
            c = self.client.containers.get(container_id)
        except docker.errors.NotFound:
            return ContainerStatus(False, None, "")
        state = c.attrs.get("State", {})
        running = bool(state.get("Running"))
        tail = "" if running else c.logs(tail=20).decode(errors="replace")
        return ContainerStatus(running, None if running else state.get("ExitCode"), tail)

    def logs(self, container_id: str, tail: int = 20) -> str:
        try:
            return self.client.containers.get(container_id).logs(tail=tail).decode(errors="replace")
        except docker.errors.DockerException:
            return ""

    def log_sources(self, owner_kind: str, owner: str) -> list[tuple[StreamKey, str]]:
        """The live chain containers of an owner: their stream and container id."""
        wanted = {labels.OWNER_KIND: owner_kind, labels.OWNER: owner, labels.ROLE: labels.ROLE_CONTAINER}
        try:
            found = self._list(wanted)
        except docker.errors.DockerException as exc:
            raise RuntimeProblem(f"Cannot list the containers of {owner} ({exc}).") from exc
        return [(StreamKey.from_labels(c["Labels"], int(c["Created"])), c["Id"]) for c in found]

    def timed_logs(self, container_id: str, since: float | None, tail: int | None) -> str:
        """Timestamped lines (`docker logs --timestamps`), from `since` (epoch seconds) on."""
        kwargs: dict[str, Any] = {"timestamps": True, "tail": tail or "all"}
        if since:
            kwargs["since"] = float(since)
        try:
            return self.client.api.logs(container_id, **kwargs).decode(errors="replace")
        except docker.errors.DockerException:
            return ""

    def _archive_logs(self, ids: list[str]) -> None:
        """What stopped containers printed, kept before they are removed (LogArchive's budget)."""
        if self.log_archive is None or not ids:
            return
        for c in self.client.api.containers(all=True, filters={"id": ids}):
            if c["Labels"].get(labels.ROLE) != labels.ROLE_CONTAINER:
                continue
            with contextlib.suppress(docker.errors.DockerException, OSError):
                # Docker bounds a log read by lines only: this keeps one read's memory bounded too
                text = self.client.api.logs(c["Id"], timestamps=True, tail=ARCHIVE_TAIL_LINES)
                self.log_archive.keep(StreamKey.from_labels(c["Labels"], int(c["Created"])), text)

    def stop_instance(self, handle: InstanceHandle, timeout: float = STOP_TIMEOUT) -> None:
        """One instance; see stop_instances."""
        self.stop_instances([handle], timeout)

    def stop_instances(
        self, handles: list[InstanceHandle], timeout: float = STOP_TIMEOUT, *, idle: bool = False
    ) -> None:
        """Stop instances together, as SageMaker stops a host: SIGTERM to every chain container of
        every instance at once, SIGKILL to whatever still runs one grace period later (not one per
        container), then remove the chain containers. timeout: the grace period, in seconds; 0
        removes at once.

        The holders keep the network namespace (and the published ports) the chain containers
        answer in-flight requests through until they exit, so they go once that wait is over,
        alongside the chain containers' removal (nothing answers through them by then; a container
        still running is being killed). idle: no request is in flight at all (a transform job that
        has ended), so the holders go at once, while the chain containers exit: removing a holder
        takes the engine a fifth of a second, which then overlaps the wait rather than following it."""
        members = list(dict.fromkeys(cid for h in handles for cid in self._member_ids(h)))
        holders = list(dict.fromkeys(h.pod_id for h in handles if h.pod_id))
        with ThreadPoolExecutor(max_workers=1) as background:
            holders_gone = background.submit(self._remove_all, holders) if idle else None
            try:
                if timeout > 0 and members:
                    self._await_exit([cid for cid in members if self._terminate(cid)], timeout)
                if holders_gone is None:
                    holders_gone = background.submit(self._remove_all, holders)
                self._archive_logs(members)
                self._remove_all(members)  # force: SIGKILL for any that ignored SIGTERM
            finally:
                if holders_gone is not None:
                    holders_gone.result()

    def _member_ids(self, handle: InstanceHandle) -> list[str]:
        if handle.containers:
            return [c.container_id for c in handle.containers]
        # a half-started instance: find what exists by its labels
        return [
            c["Id"]
            for c in self._list(
                {
                    labels.OWNER: handle.owner,
                    labels.VARIANT: handle.variant,
                    labels.GENERATION: str(handle.generation),
                    labels.INSTANCE: str(handle.index),
                    labels.ROLE: labels.ROLE_CONTAINER,
                }
            )
        ]

    def _terminate(self, cid: str) -> bool:
        """SIGTERM one container; False when it is gone or not running."""
        try:
            self.client.api.kill(cid, signal="SIGTERM")
        except docker.errors.DockerException:  # gone, not running, or the engine refused: removal follows anyway
            return False
        return True

    def _await_exit(self, ids: list[str], grace: float) -> None:
        deadline = time.monotonic() + grace
        # a server that honours SIGTERM is gone within tens of milliseconds: look again soon, then
        # less often, so a job's teardown does not wait out a whole poll for containers already gone
        pause = FIRST_STOP_POLL
        while ids and time.monotonic() < deadline:
            running = self.client.api.containers(filters={"id": ids}, quiet=True)  # running ones only
            if not running:
                return
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, STOP_POLL)

    def _remove_all(self, ids: list[str]) -> None:
        self._each(self._remove, ids)

    @staticmethod
    def _each(call: Callable[[T], object], items: Sequence[T]) -> None:
        """``call`` on every item at once, one engine call per thread; the first error is raised once
        all have ended."""
        if len(items) <= 1:
            for item in items:
                call(item)
            return
        with ThreadPoolExecutor(max_workers=min(len(items), REMOVE_WORKERS)) as pool:
            list(pool.map(call, items))

    def _remove(self, cid: str) -> None:
        try:
            self.client.api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # removal already in progress
                raise

    def _list(self, wanted: dict[str, str]) -> list[dict[str, Any]]:
        """This home's containers as the list API returns them. One call and no per-container
        inspect, so a container removed meanwhile cannot make the listing fail."""
        filters = [f"{k}={v}" for k, v in {labels.HOME: self.home_id, **wanted}.items()]
        return self.client.api.containers(all=True, filters={"label": filters})

    def managed(self) -> list[InstanceHandle]:
        """Every instance this home owns, rebuilt from labels (the daemon's memory after a restart)."""
        pods: dict[str, InstanceHandle] = {}
        pod_ports: dict[str, dict[int, int]] = {}
        members: list[dict[str, Any]] = []

        def handle_of(c: dict[str, Any]) -> InstanceHandle:
            lab = c["Labels"]
            return InstanceHandle(
                lab[labels.OWNER_KIND],
                lab[labels.OWNER],
                lab[labels.VARIANT],
                int(lab[labels.GENERATION]),
                int(lab[labels.INSTANCE]),
                pod_id=c["Id"] if lab.get(labels.ROLE) == labels.ROLE_POD else "",
            )

        for c in self._list({}):
            if c["Labels"].get(labels.ROLE) == labels.ROLE_POD:
                pods[c["Id"]] = handle_of(c)
                pod_ports[c["Id"]] = {
                    int(p["PrivatePort"]): int(p["PublicPort"]) for p in c.get("Ports") or [] if p.get("PublicPort")
                }
            else:
                members.append(c)
        for c in members:
            lab = c["Labels"]
            pod_id = lab.get(labels.POD, "")
            pod = pods.get(pod_id)
            if pod is None:  # its holder is gone: report it alone so callers remove it
                pod = pods[c["Id"]] = handle_of(c)
            port = int(lab.get(labels.PORT, 0))
            pod.containers.append(
                ContainerHandle(
                    int(lab[labels.CONTAINER_INDEX]),
                    lab[labels.CONTAINER_HOSTNAME],
                    c["Id"],
                    (c.get("Names") or ["/?"])[0].lstrip("/"),
                    port,
                    pod_ports.get(pod_id, {}).get(port, 0),
                    lab.get(labels.MODEL_DATA, ""),
                )
            )
        for handle in pods.values():
            handle.containers.sort(key=lambda h: h.index)
        return list(pods.values())

    def dead_containers(self) -> set[str]:
        """Ids of this home's containers that are no longer running."""
        return {c["Id"] for c in self._list({}) if c.get("State") in ("exited", "dead")}
