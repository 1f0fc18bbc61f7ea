"""Host paths, model data and containers on the real engine: system paths and hostile model data are
refused with no container started, model data is a copy (changing the host directory does not reach
the container), containers carry memory and pids limits, a missing image is never pulled at heal
time, and transform jobs neither read outside their prefix nor write outside S3OutputPath."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from helpers import echo_containers, teardown, unique
from support import DaemonHandle, cleanup, make_daemon, wait_endpoint

from inferpipe.core.containers.instance_types import POD_MEMORY, instance_memory

MAX_BYTES = 4 << 20
MAX_MEMBERS = 1000


@pytest.fixture(scope="module")
def d(echo_image: str) -> Iterator[DaemonHandle]:
    """A daemon of this module's own, with model-data limits low enough for quick size bombs."""
    daemon = make_daemon(
        INFERPIPE_MAX_MODEL_DATA_BYTES=str(MAX_BYTES), INFERPIPE_MAX_MODEL_DATA_MEMBERS=str(MAX_MEMBERS)
    )
    daemon.start()
    yield daemon
    cleanup(daemon)


@pytest.fixture(scope="module")
def sm(d: DaemonHandle) -> Any:
    return d.client()


def start_endpoint(sm: Any, name: str, containers: list[dict[str, Any]], before_endpoint: Any = None) -> None:
    """CreateModel, then ``before_endpoint()`` (to change the host after CreateModel's checks), then the
    config and the endpoint."""
    sm.create_model(ModelName=name, Containers=containers)
    if before_endpoint:
        before_endpoint()
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def failed(sm: Any, d: DaemonHandle, name: str) -> str:
    desc = wait_endpoint(sm, name, "Failed", timeout=60)
    assert not d.containers_of(name), "a container was started"
    teardown(sm, name)
    return str(desc["FailureReason"])


def cache_entries(d: DaemonHandle) -> list[str]:
    root = d.home / "model-cache"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


# system paths ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "where"),
    [("/", "the host's root directory"), ("/etc", "inside /etc"), ("/var/run/docker.sock", "inside /run")],
)
def test_system_paths_as_model_data_are_refused_and_no_container_starts(
    sm: Any, d: DaemonHandle, echo_image: str, tmp_path: Path, target: str, where: str
) -> None:
    containers = echo_containers(echo_image, 2)
    containers[0]["ModelDataUrl"] = target
    with pytest.raises(ClientError) as err:
        sm.create_model(ModelName=unique("sys"), Containers=containers)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert where in err.value.response["Error"]["Message"]

    # A path that was harmless at CreateModel and leads there by the time the endpoint starts.
    link = tmp_path / "model"
    containers[0]["ModelDataUrl"] = str(link)
    name = unique("sys")
    start_endpoint(sm, name, containers, before_endpoint=lambda: link.symlink_to(target))
    reason = failed(sm, d, name)
    assert f"Refusing model data at {link}" in reason and where in reason, reason


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda m: (m / "engine").symlink_to("/var/run/docker.sock"), "'engine' is an absolute symbolic link"),
        (
            lambda m: (m / "engine").symlink_to("../" * 12 + "var/run/docker.sock"),
            "'engine' is a symbolic link leading outside the model data",
        ),
        (lambda m: os.mkfifo(m / "pipe"), "'pipe' is a FIFO (named pipe)"),
        (lambda m: socket.socket(socket.AF_UNIX).bind(str(m / "sock")), "'sock' is a socket"),
    ],
)
def test_a_model_directory_holding_a_link_to_the_docker_socket_or_a_fifo_is_refused(
    sm: Any, d: DaemonHandle, echo_image: str, tmp_path: Path, make: Any, problem: str
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")
    make(model)
    containers = echo_containers(echo_image, 2)
    containers[0]["ModelDataUrl"] = str(model)
    name = unique("dirlink")
    start_endpoint(sm, name, containers)
    reason = failed(sm, d, name)
    assert f"Refusing model data at {model}: {problem}" in reason, reason
    assert not [e for e in cache_entries(d) if e.startswith(".")], "staging left behind"


# hostile tarballs ----------------------------------------------------------------------------------------
def cve_2025_4517(path: Path, victim_dir: Path) -> None:
    """The published proof of concept's shape (see tests/unit/test_archive.py), gzip compressed."""
    comp = "d" * 247
    steps = "abcdefghijklmnop"
    with tarfile.open(path, "w:gz") as tar:
        step_path = ""
        for s in steps:
            entry = tarfile.TarInfo(os.path.join(step_path, comp))
            entry.type = tarfile.DIRTYPE
            tar.addfile(entry)
            link = tarfile.TarInfo(os.path.join(step_path, s))
            link.type, link.linkname = tarfile.SYMTYPE, comp
            tar.addfile(link)
            step_path = os.path.join(step_path, s)
        linkpath = os.path.join("/".join(steps), "l" * 254)
        far = tarfile.TarInfo(linkpath)
        far.type, far.linkname = tarfile.SYMTYPE, "../" * len(steps)
        tar.addfile(far)
        escape = tarfile.TarInfo("escape")
        escape.type, escape.linkname = tarfile.SYMTYPE, linkpath + "/.." * (len(steps) + 1) + str(victim_dir)
        tar.addfile(escape)
        hard = tarfile.TarInfo("flaglink")
        hard.type, hard.linkname = tarfile.LNKTYPE, "escape/victim"
        tar.addfile(hard)
        body = tarfile.TarInfo("flaglink")
        body.size = 6
        tar.addfile(body, io.BytesIO(b"pwned\n"))


def test_the_cve_2025_4517_chain_fails_the_endpoint_and_writes_nothing(
    sm: Any, d: DaemonHandle, echo_image: str, tmp_path: Path
) -> None:
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "victim").write_text("original\n")
    archive = tmp_path / "model.tar.gz"
    cve_2025_4517(archive, victim_dir)
    containers = echo_containers(echo_image, 2)
    containers[0]["ModelDataUrl"] = f"file://{archive}"
    name = unique("cve")
    start_endpoint(sm, name, containers)
    reason = failed(sm, d, name)
    assert (
        f"Refusing model data at file://{archive}: 'a/ddd" in reason and "lies inside the symbolic link 'a'" in reason
    )
    assert (victim_dir / "victim").read_text() == "original\n"
    assert sorted(p.name for p in victim_dir.iterdir()) == ["victim"]
    assert not [e for e in cache_entries(d) if not e.startswith(".trash")], cache_entries(d)


def test_size_bombs_and_member_floods_fail_the_endpoint_naming_the_limit(
    sm: Any, d: DaemonHandle, echo_image: str, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tar:
        for i in range(4):
            info = tarfile.TarInfo(f"zeros-{i}")
            info.size = 2 << 20
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert bomb.stat().st_size < 64 << 10
    flood = tmp_path / "flood.tar.gz"
    with tarfile.open(flood, "w:gz") as tar:
        for i in range(MAX_MEMBERS + 5):
            tar.addfile(tarfile.TarInfo(f"f{i}"), io.BytesIO(b""))
    for archive, expected in [
        (bomb, f"Model data at {bomb} expands past the 4 MiB limit (INFERPIPE_MAX_MODEL_DATA_BYTES)."),
        (flood, f"Model data at {flood} has more than 1,000 entries, the limit (INFERPIPE_MAX_MODEL_DATA_MEMBERS)."),
    ]:
        containers = echo_containers(echo_image, 2)
        containers[0]["ModelDataUrl"] = str(archive)
        name = unique("bomb")
        start_endpoint(sm, name, containers)
        reason = failed(sm, d, name)
        assert expected in reason, reason


# copies and limits -----------------------------------------------------------------------------------------
def serving_a_model_directory(
    sm: Any, d: DaemonHandle, echo_image: str, tmp_path: Path, prefix: str
) -> tuple[Path, str, str]:
    """An endpoint whose first container's model data is a host directory holding weights.txt
    "v1": the directory, the endpoint's name and that container's id."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.txt").write_text("v1")
    containers = echo_containers(echo_image, 2)
    containers[0]["ModelDataUrl"] = str(model)
    name = unique(prefix)
    start_endpoint(sm, name, containers)
    try:
        wait_endpoint(sm, name, timeout=60)
    except BaseException:
        teardown(sm, name)
        raise
    return model, name, d.containers_of(name, "container-1")[0]


def test_model_data_is_a_copy_and_containers_are_limited(
    sm: Any, d: DaemonHandle, echo_image: str, tmp_path: Path
) -> None:
    model, name, cid = serving_a_model_directory(sm, d, echo_image, tmp_path, "copy")
    try:

        def seen() -> str:
            return docker("exec", cid, "cat", "/opt/ml/model/weights.txt").stdout

        assert seen() == "v1"
        (model / "weights.txt").write_text("v2")
        (model / "new.txt").write_text("new")
        assert seen() == "v1", "a change on the host reached the running container"
        assert docker("exec", cid, "ls", "/opt/ml/model").stdout.split() == ["weights.txt"]
        source = docker("inspect", "-f", "{{range .Mounts}}{{.Source}}{{end}}", cid).stdout.strip()
        assert Path(source).parent == d.home / "model-cache", source

        host_memory = int(docker("info", "-f", "{{.MemTotal}}").stdout.strip())
        expected = min(instance_memory("ml.m5.large") or 0, host_memory) // 2  # the chain shares the instance
        limits = docker("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", cid).stdout.split()
        assert limits == [str(expected), "4096"], limits
        pod = docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", cid).stdout.strip().removeprefix("container:")
        assert docker("inspect", "-f", "{{.HostConfig.Memory}}", pod).stdout.strip() == str(POD_MEMORY)
    finally:
        teardown(sm, name)
    assert not [e for e in cache_entries(d) if not e.startswith(".")], "the copy outlived its endpoint"


def test_after_a_daemon_restart_the_copy_running_containers_mount_stays_pinned(
    sm: Any, d: DaemonHandle, echo_image: str, tmp_path: Path
) -> None:
    model, name, cid = serving_a_model_directory(sm, d, echo_image, tmp_path, "pinned")
    try:
        d.stop()
        (model / "weights.txt").write_text("v2")  # the source changes while no daemon runs
        d.start()
        wait_endpoint(sm, name, timeout=60)
        assert d.containers_of(name, "container-1") == [cid], "the instance was not adopted"
        other = unique("other")  # creating and deleting another endpoint collects unused copies
        start_endpoint(sm, other, echo_containers(echo_image, 2))
        wait_endpoint(sm, other, timeout=60)
        teardown(sm, other)
        assert docker("exec", cid, "cat", "/opt/ml/model/weights.txt").stdout == "v1"
    finally:
        teardown(sm, name)


# never pull --------------------------------------------------------------------------------------------------
class RegistryWatch:
    """A TCP listener standing in for a registry: a pull of 127.0.0.1:PORT/... would connect here."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def test_a_missing_image_is_not_pulled_when_an_instance_is_replaced(
    sm: Any, d: DaemonHandle, echo_image: str, tmp_path: Path
) -> None:
    watch = RegistryWatch()
    image = f"127.0.0.1:{watch.port}/inferpipe-heal-{uuid.uuid4().hex[:8]}:1"
    (tmp_path / "Dockerfile").write_text(f"FROM {echo_image}\nLABEL inferpipe.test.unique={uuid.uuid4().hex}\n")
    assert docker("build", "-q", "-t", image, str(tmp_path)).returncode == 0
    name = unique("heal")
    try:
        start_endpoint(sm, name, [{"Image": image}, {"Image": echo_image}])
        wait_endpoint(sm, name, timeout=60)
        image_id = docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()
        # Remove the instance's containers and then the image, so nothing of it is left locally.
        # (retried: the health monitor may see a container exit mid-removal and replace it first)
        for _ in range(10):
            docker("rm", "-f", *d.containers_of(name))
            if docker("rmi", image_id).returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the image is still in use")
        rt = d.client("sagemaker-runtime")
        with pytest.raises(ClientError):
            rt.invoke_endpoint(EndpointName=name, Body=b"x")  # the router notices and asks for a replacement
        deadline = time.monotonic() + 30
        log = d.home / "daemon.log"
        while "replacement of" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text()
        assert "is no longer present in the local Docker engine, and inferpipe never pulls" in text, text[-2000:]
        assert image in text and "docker load" in text
        time.sleep(2)  # the remaining replacement attempts
        assert watch.connections == 0, "the engine contacted the registry: the image was pulled"
        assert docker("image", "inspect", image).returncode != 0
        assert not d.containers_of(name)
    finally:
        watch.close()
        teardown(sm, name)
        docker("rmi", "-f", image)


# transform jobs ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw_model(sm: Any, echo_image: str) -> str:
    name = unique("paths-model")
    sm.create_model(
        ModelName=name,
        Containers=[{"Image": echo_image, "Environment": {"ECHO_RAW": "1"}}] * 2,
    )
    return name


def run_job(sm: Any, d: DaemonHandle, model: str, uri: str, out: Path, data_type: str = "S3Prefix") -> dict[str, Any]:
    name = unique("paths-job")
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"file://{out}", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    deadline = time.monotonic() + 120
    while (desc := sm.describe_transform_job(TransformJobName=name))["TransformJobStatus"] == "InProgress":
        assert time.monotonic() < deadline, f"{name} still InProgress"
        time.sleep(0.25)
    assert not [c for c in d.containers() if name in docker("inspect", "-f", "{{.Name}}", c).stdout]
    return dict(desc)


def test_a_manifest_key_climbing_out_of_its_prefix_fails_the_job(
    sm: Any, d: DaemonHandle, raw_model: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1\n")
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "secret.csv").write_text("secret\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(f'[{{"prefix": "file://{data}/"}}, "a.csv", "../victim/secret.csv"]')
    out = tmp_path / "out"
    desc = run_job(sm, d, raw_model, str(manifest), out, "ManifestFile")
    assert desc["TransformJobStatus"] == "Failed"
    assert "lists the key '../victim/secret.csv' contains '..'" in desc["FailureReason"], desc["FailureReason"]
    assert not (tmp_path / "victim" / "secret.csv.out").exists()
    assert not out.exists() or not list(out.rglob("*"))


def test_an_output_that_would_land_outside_the_output_path_is_not_written(
    sm: Any, d: DaemonHandle, raw_model: str, tmp_path: Path
) -> None:
    data = tmp_path / "in"
    (data / "sub").mkdir(parents=True)
    (data / "top.csv").write_text("1\n2\n")
    (data / "sub" / "a.csv").write_text("3\n")
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)  # sub/a.csv.out would be written through the link
    desc = run_job(sm, d, raw_model, str(data), out)
    assert desc["TransformJobStatus"] == "Failed"
    assert "sub/a.csv: cannot write the output" in desc["FailureReason"], desc["FailureReason"]
    assert "never writes through links" in desc["FailureReason"]
    assert list(elsewhere.iterdir()) == []
    assert (out / "top.csv.out").read_text() == "1\n2\n"  # the other file is still transformed
