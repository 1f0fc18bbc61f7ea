"""Model data: the host path policy, copies in the content-addressed cache (never the caller's path),
pins that keep garbage collection off the data of fleets still starting, and container limits."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from inferpipe.core.config import Settings
from inferpipe.core.containers.fleet import FleetLauncher, FleetStartError
from inferpipe.core.containers.hostpaths import HostPathPolicy, PathRefused, create_file
from inferpipe.core.containers.instance_types import GIB, MIN_CONTAINER_MEMORY, container_limits, instance_memory
from inferpipe.core.containers.modeldata import ModelCache, ModelDataError, model_data_problem
from inferpipe.core.containers.modeltree import TreeLimits
from inferpipe.core.containers.runtime import ImageInfo, InstanceHandle, RuntimeProblem
from inferpipe.core.spec import ContainerSpec, ModelSpec, VariantSpec


def tarball(path: Path, name: str = "weights.bin", data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def policy_for(tmp_path: Path, roots: tuple[Path, ...] | None = None) -> HostPathPolicy:
    return HostPathPolicy(roots, (Path("/etc"), Path("/proc"), Path("/run"), tmp_path / "home"))


# the host path policy ------------------------------------------------------------------------------
def test_policy_refuses_system_trees_their_ancestors_and_links_to_them(tmp_path: Path) -> None:
    policy = policy_for(tmp_path)
    (tmp_path / "etc-link").symlink_to("/etc")
    for path, fragment in [
        ("/", "is the host's root directory"),
        ("/etc/passwd", "is inside /etc"),
        ("/proc/self/environ", "is inside /proc"),
        (str(tmp_path / "etc-link"), "(which resolves to /etc) is inside /etc"),
        (str(tmp_path / "home" / "model-cache"), f"is inside {tmp_path / 'home'}"),
        (str(tmp_path), f"contains {tmp_path / 'home'}"),
    ]:
        with pytest.raises(PathRefused) as err:
            policy.check(Path(path), "model data")
        assert fragment in str(err.value), (path, str(err.value))
    assert policy.check(tmp_path / "models", "x") == tmp_path / "models"


def test_allowed_roots_narrow_the_policy(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    policy = policy_for(tmp_path, roots=(tmp_path / "a",))
    assert policy.check(tmp_path / "a" / "m", "x") == tmp_path / "a" / "m"
    with pytest.raises(PathRefused, match=r"outside the directories inferpipe may use \(INFERPIPE_ALLOWED_ROOTS="):
        policy.check(tmp_path / "b", "x")
    (tmp_path / "a" / "out").symlink_to(tmp_path / "b")
    with pytest.raises(PathRefused, match="INFERPIPE_ALLOWED_ROOTS"):
        policy.check(tmp_path / "a" / "out", "x")  # resolved before it is checked


def test_the_docker_root_comes_from_the_engine_once_it_answers(tmp_path: Path) -> None:
    answers: list[Path | None] = []

    def engine_root() -> Path | None:
        if not answers:
            answers.append(None)
            raise RuntimeProblem("no engine yet")
        return tmp_path / "docker"

    policy = HostPathPolicy(None, (), engine_root)
    policy.check(tmp_path / "docker" / "x", "x")  # engine down: not known yet
    with pytest.raises(PathRefused, match="is inside .*docker"):
        policy.check(tmp_path / "docker" / "x", "x")


def test_settings_read_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERPIPE_ALLOWED_ROOTS", "/data:/srv/models")
    monkeypatch.setenv("INFERPIPE_MAX_MODEL_DATA_BYTES", "2GiB")
    monkeypatch.setenv("INFERPIPE_MAX_MODEL_DATA_MEMBERS", "500")
    monkeypatch.setenv("INFERPIPE_CONTAINER_MEMORY", "512m")
    monkeypatch.setenv("INFERPIPE_CONTAINER_PIDS", "100")
    s = Settings.from_env()
    assert s.allowed_roots == (Path("/data"), Path("/srv/models"))
    assert (s.max_model_data_bytes, s.max_model_data_members) == (2 * GIB, 500)
    assert (s.container_memory, s.container_pids) == (512 << 20, 100)
    monkeypatch.setenv("INFERPIPE_MAX_MODEL_DATA_BYTES", "lots")
    with pytest.raises(ValueError, match="INFERPIPE_MAX_MODEL_DATA_BYTES='lots' must be a byte size"):
        Settings.from_env()
    monkeypatch.setenv("INFERPIPE_MAX_MODEL_DATA_BYTES", "1g")
    monkeypatch.setenv("INFERPIPE_ALLOWED_ROOTS", "data")
    with pytest.raises(ValueError, match="absolute paths"):
        Settings.from_env()


# CreateModel's cheap check ---------------------------------------------------------------------------
def test_model_data_problem_names_sockets_fifos_and_refused_paths(tmp_path: Path) -> None:
    policy = policy_for(tmp_path)
    os.mkfifo(tmp_path / "fifo.tar.gz")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s.sock"))
        assert "is a socket" in (model_data_problem(str(tmp_path / "s.sock"), policy) or "")
    assert "is a FIFO" in (model_data_problem(f"file://{tmp_path}/fifo.tar.gz", policy) or "")
    assert "is inside /etc" in (model_data_problem("/etc", policy) or "")
    assert model_data_problem(str(tmp_path / "missing.tar.gz"), policy) is None  # read at CreateEndpoint
    assert model_data_problem("s3://bucket/m.tar.gz", policy) is None


# the cache ---------------------------------------------------------------------------------------------
def test_a_tarball_is_extracted_once_by_content_and_kept_while_pinned(tmp_path: Path) -> None:
    archive = tarball(tmp_path / "m.tar.gz")
    cache = ModelCache(tmp_path / "cache", policy_for(tmp_path))
    first = cache.materialize(f"file://{archive}")
    assert first.parent == tmp_path / "cache" and first.name.startswith("tar-")
    assert (first / "weights.bin").read_bytes() == b"x"
    assert cache.materialize(str(archive)) == first
    assert cache.pinned() == {first.name: 2}
    assert cache.collect() == [] and first.exists()
    cache.release(first)
    assert cache.collect() == [] and first.exists()
    cache.release(first)
    assert cache.collect() == [first] and not first.exists()
    with pytest.raises(ModelDataError, match="S3 is not configured"):
        cache.materialize("s3://bucket/key.tar.gz")
    with pytest.raises(ModelDataError, match="Could not find model data"):
        cache.materialize(str(tmp_path / "missing.tar.gz"))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelDataError, match=r"must be a gzip compressed tar archive \(.tar.gz\) or a directory"):
        cache.materialize(str(tmp_path / "weights.bin"))


def test_a_directory_is_copied_and_later_changes_do_not_reach_the_copy(tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"v1")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    (src / "latest").symlink_to("sub/w.bin")
    cache = ModelCache(tmp_path / "cache", policy_for(tmp_path))
    copy = cache.materialize(str(src))
    assert copy.parent == tmp_path / "cache" and copy.name.startswith("dir-")
    assert (copy / "latest").read_bytes() == b"v1" and os.readlink(copy / "latest") == "sub/w.bin"
    assert os.access(copy / "run.sh", os.X_OK)
    assert cache.materialize(f"file://{src}") == copy  # same content, same entry
    (src / "sub" / "w.bin").write_bytes(b"v2")
    assert (copy / "sub" / "w.bin").read_bytes() == b"v1"
    changed = cache.materialize(str(src))
    assert changed != copy and (changed / "sub" / "w.bin").read_bytes() == b"v2"


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: (d / "l").symlink_to("../../outside"), "'l' is a symbolic link leading outside the model data"),
        (lambda d: (d / "sock").symlink_to("/var/run/docker.sock"), "'sock' is an absolute symbolic link"),
        (lambda d: os.mkfifo(d / "sub" / "pipe"), "'sub/pipe' is a FIFO"),
        (lambda d: socket.socket(socket.AF_UNIX).bind(str(d / "s")), "'s' is a socket"),
    ],
)
def test_a_directory_holding_links_out_sockets_or_fifos_is_refused(tmp_path: Path, make: Any, problem: str) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "ok.bin").write_bytes(b"x")
    make(src)
    cache = ModelCache(tmp_path / "cache", policy_for(tmp_path))
    with pytest.raises(ModelDataError, match=f"Refusing model data at {src}: {problem}"):
        cache.materialize(str(src))
    assert cache.pinned() == {}
    assert [p for p in (tmp_path / "cache").iterdir()] == []  # the staging copy is gone


def test_a_fifo_or_device_as_model_data_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "model.tar.gz"
    os.mkfifo(fifo)
    cache = ModelCache(tmp_path / "cache", HostPathPolicy(None, ()))
    errors: list[str] = []

    def attempt() -> None:
        for url in (str(fifo), "/dev/zero"):
            try:
                cache.materialize(url)
            except ModelDataError as exc:
                errors.append(str(exc))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "materialize blocked opening a FIFO"
    assert "it is a FIFO (named pipe)" in errors[0]
    assert "it is a character device" in errors[1]


def test_limits_name_their_setting(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "cache", policy_for(tmp_path), TreeLimits(max_bytes=1024, max_members=3))
    archive = tarball(tmp_path / "big.tar.gz", data=bytes(4096))
    with pytest.raises(ModelDataError) as err:
        cache.materialize(str(archive))
    assert str(err.value) == (f"Model data at {archive} expands past the 1 KiB limit (INFERPIPE_MAX_MODEL_DATA_BYTES).")
    src = tmp_path / "many"
    src.mkdir()
    for i in range(5):
        (src / str(i)).write_bytes(b"")
    with pytest.raises(
        ModelDataError, match=r"has more than 3 entries, the limit \(INFERPIPE_MAX_MODEL_DATA_MEMBERS\)"
    ):
        cache.materialize(str(src))


# pinning: garbage collection while a fleet is starting ---------------------------------------------------
class SlowRuntime:
    """Holds start_instance until released, then fails it (the fleet then stops and unpins)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.stopped: list[InstanceHandle] = []

    def inspect_image(self, image: str) -> ImageInfo:
        return ImageInfo(image, f"{image}@sha256:0", True, "sha256:0")

    def engine_memory(self) -> int | None:
        return 16 * GIB

    def start_instance(self, *args: Any, **kwargs: Any) -> InstanceHandle:
        self.started.set()
        assert self.release.wait(10)
        raise RuntimeProblem("CannotStartContainerError: released by the test")

    def stop_instance(self, handle: InstanceHandle, timeout: int = 0) -> None:
        self.stopped.append(handle)


def test_gc_while_a_fleet_is_starting_keeps_its_model_data(tmp_path: Path) -> None:
    archive = tarball(tmp_path / "m.tar.gz")
    other = tarball(tmp_path / "other.tar.gz", data=b"other")
    cache = ModelCache(tmp_path / "cache", policy_for(tmp_path))
    runtime = SlowRuntime()
    launcher = FleetLauncher(runtime, cache)  # type: ignore[arg-type]
    model = ModelSpec("m", (ContainerSpec("c1", "img:1", str(archive)),))
    variant = VariantSpec("v", model, 1, 1.0, "ml.m5.large")

    async def scenario() -> None:
        leftover = cache.materialize(str(other))  # data of a fleet that already went away
        cache.release(leftover)
        fleet = await launcher.prepare("endpoint", "e", variant, 1)
        entry = fleet.model_dirs[0]
        assert entry is not None
        launch = asyncio.get_running_loop().create_task(launcher.launch(fleet))
        await asyncio.to_thread(runtime.started.wait, 10)
        launcher.collect_model_data()  # another endpoint was deleted meanwhile
        assert (entry / "weights.bin").read_bytes() == b"x", "GC removed the data of a starting fleet"
        assert not leftover.exists()
        runtime.release.set()
        with pytest.raises(FleetStartError):
            await launch
        launcher.collect_model_data()
        assert not entry.exists()

    asyncio.run(scenario())


def test_prepare_reads_no_model_data_when_an_image_is_missing(tmp_path: Path) -> None:
    class NoImages(SlowRuntime):
        def inspect_image(self, image: str) -> ImageInfo:
            raise RuntimeProblem(f"Image {image} is not present in the local Docker engine")

    bomb = tarball(tmp_path / "m.tar.gz")
    cache = ModelCache(tmp_path / "cache", policy_for(tmp_path))
    launcher = FleetLauncher(NoImages(), cache)  # type: ignore[arg-type]
    variant = VariantSpec("v", ModelSpec("m", (ContainerSpec("c1", "gone:1", str(bomb)),)), 1, 1.0, None)
    with pytest.raises(FleetStartError, match="gone:1 is not present"):
        asyncio.run(launcher.prepare("endpoint", "e", variant, 1))
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


# outputs ---------------------------------------------------------------------------------------------
def test_create_file_never_follows_a_link(tmp_path: Path) -> None:
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    (out).mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    with pytest.raises(OSError):
        create_file(out / "sub" / "a.csv.out")
    assert list(elsewhere.iterdir()) == []
    victim = elsewhere / "victim"
    victim.write_text("keep")
    os.link(victim, out / "x.out")  # a hard link planted at the output's name
    dfd, fd = create_file(out / "x.out")
    os.write(fd, b"new")
    os.close(fd)
    os.close(dfd)
    assert victim.read_text() == "keep" and (out / "x.out").read_text() == "new"
    dfd, fd = create_file(out / "new" / "deep" / "y.out")
    os.close(fd)
    os.close(dfd)
    assert (out / "new" / "deep" / "y.out").is_file()


# container limits --------------------------------------------------------------------------------------
def test_container_limits_come_from_the_instance_type_capped_to_the_host() -> None:
    assert instance_memory("ml.m5.large") == 8 * GIB
    assert instance_memory("ml.c5.xlarge") == 8 * GIB
    assert instance_memory("ml.r6i.2xlarge") == 64 * GIB
    assert instance_memory("ml.t2.medium") == 4 * GIB
    assert instance_memory("ml.p3.2xlarge") == 61 * GIB
    assert instance_memory("ml.unknown.large") is None
    assert container_limits("ml.m5.large", 2, 64 * GIB, None, 4096).memory == 4 * GIB  # shared by the chain
    assert container_limits("ml.m5.24xlarge", 1, 16 * GIB, None, 4096).memory == 16 * GIB  # capped to the host
    assert container_limits(None, 4, 16 * GIB, None, 4096).memory == 4 * GIB
    assert container_limits("ml.m5.large", 3, 64 * GIB, 512 << 20, 100) == type(
        container_limits("ml.m5.large", 3, 64 * GIB, None, 100)
    )(512 << 20, 100)
    assert container_limits("ml.t2.medium", 15, 8 * GIB, None, 1).memory >= MIN_CONTAINER_MEMORY


# never pull ----------------------------------------------------------------------------------------------
class FakeDocker:
    """Records what the runtime asks of docker-py; ``run`` (which pulls on ImageNotFound) must never be used."""

    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.calls: list[str] = []
        self.images = self
        self.containers = self
        self.api = self

    def get(self, ref: str) -> Any:
        import docker.errors

        self.calls.append(f"images.get {ref}")
        if ref not in self.present:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return object()

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("containers.run pulls a missing image")

    def create(self, image: str, **kwargs: Any) -> Any:
        self.calls.append(f"create {image} mem={kwargs.get('mem_limit')} pids={kwargs.get('pids_limit')}")
        client = self

        class Created:
            id = f"id-{len(client.calls)}"
            name = kwargs.get("name", "")
            attrs = {"NetworkSettings": {"Ports": {f"{8080 + i}/tcp": [{"HostPort": "1"}] for i in range(3)}}}

            def start(self) -> None:
                client.calls.append(f"start {image}")

            def reload(self) -> None:
                pass

        return Created()


def test_the_runtime_checks_images_and_creates_containers_without_ever_pulling() -> None:
    from inferpipe.core.containers.instance_types import ContainerLimits
    from inferpipe.core.containers.runtime import DockerRuntime

    runtime = object.__new__(DockerRuntime)
    runtime.home_id = "h"
    fake = FakeDocker({"sha256:aaa", "sha256:bbb"})
    runtime.client = fake  # type: ignore[assignment]
    model = ModelSpec("m", (ContainerSpec("a", "prep:1", None), ContainerSpec("b", "model:1", None)))
    images = [ImageInfo("prep:1", "prep@sha256:aaa", True, "sha256:aaa"), ImageInfo("model:1", "x", True, "sha256:bbb")]
    handle = runtime.start_instance(
        "endpoint", "e", "v", 1, 1, model, [None, None], {}, images, ContainerLimits(1 << 30, 64)
    )
    assert [c.container_id for c in handle.containers] and fake.calls[:2] == [
        "images.get sha256:aaa",
        "images.get sha256:bbb",
    ]
    assert "create sha256:bbb mem=1073741824 pids=64" in fake.calls  # by the id resolved when prepared
    fake.present.discard("sha256:bbb")  # the image was removed since: a replacement must not pull it
    fake.calls.clear()
    with pytest.raises(
        RuntimeProblem, match="model:1 .* is no longer present in the local Docker engine, and inferpipe never pulls"
    ):
        runtime.start_instance("endpoint", "e", "v", 1, 2, model, [None, None], {}, images, None)
    assert not [c for c in fake.calls if c.startswith("create")]
