"""INFERPIPE_CONTAINER_S3=1: a container whose own code reads S3 gets the daemon's S3 endpoint
(the host's loopback rewritten to host.docker.internal) and credentials through the standard AWS
variables. The S3 server listens on every address here so the bridge reaches it too."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import deploy, echo_containers, teardown, unique
from inferpipe_testing.s3server import MotoS3, moto_s3
from support import REPO, DaemonHandle, cleanup, make_daemon

CONTEXT = REPO / "tests" / "images" / "s3reader"
IMAGE = "inferpipe-test/s3reader:1"


@pytest.fixture(scope="module")
def s3reader_image(echo_image: str) -> str:
    """Built here, from the echo image, and rebuilt only when its inputs change."""
    digest = hashlib.sha256()
    for path in sorted(CONTEXT.iterdir()):
        digest.update(path.name.encode() + b"\0" + Path(path).read_bytes())
    base = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", echo_image], capture_output=True, text=True, check=True
    ).stdout.strip()
    digest.update(base.encode())
    label = digest.hexdigest()[:32]
    current = subprocess.run(
        ["docker", "image", "inspect", "-f", '{{index .Config.Labels "inferpipe.content-hash"}}', IMAGE],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if current != label:
        subprocess.run(
            ["docker", "build", "-q", "-t", IMAGE, "--build-arg", f"BASE_IMAGE={echo_image}"]
            + ["--label", f"inferpipe.content-hash={label}", str(CONTEXT)],
            check=True,
            capture_output=True,
        )
    return IMAGE


@pytest.fixture(scope="module")
def bridged_s3() -> Iterator[MotoS3]:
    with moto_s3(host="0.0.0.0") as server:
        yield server


@pytest.fixture(scope="module")
def s3_daemon(bridged_s3: MotoS3) -> Iterator[DaemonHandle]:
    d = make_daemon(INFERPIPE_CONTAINER_S3="1", **bridged_s3.daemon_env())
    d.start()
    yield d
    cleanup(d)


def test_container_reads_s3_with_the_daemons_endpoint_and_credentials(
    s3_daemon: DaemonHandle, bridged_s3: MotoS3, s3reader_image: str
) -> None:
    bucket = bridged_s3.bucket(f"code-{uuid.uuid4().hex[:10]}")
    bridged_s3.put(f"s3://{bucket}/code/sourcedir.tar.gz", b"the container's own code")
    bridged_s3.put(f"s3://{bucket}/forbidden/secret", b"denied to the daemon's user")
    sm, rt = s3_daemon.client("sagemaker"), s3_daemon.client("sagemaker-runtime")
    name = unique("cs3")
    try:
        deploy(sm, name, [{"Image": s3reader_image}])
        got = rt.invoke_endpoint(EndpointName=name, Body=f"{bucket}/code/sourcedir.tar.gz".encode())
        assert got["Body"].read() == b"the container's own code"
        # the container signs as the daemon's S3 user: what that user may not read, it may not either
        with pytest.raises(rt.exceptions.ModelError) as denied:
            rt.invoke_endpoint(EndpointName=name, Body=f"{bucket}/forbidden/secret".encode())
        assert "AccessDenied" in str(denied.value)
        cid = s3_daemon.containers_of(name)[0]
        env = subprocess.run(["docker", "exec", cid, "env"], capture_output=True, text=True, check=True).stdout
        assert f"AWS_ENDPOINT_URL_S3=http://host.docker.internal:{bridged_s3.port}" in env
    finally:
        teardown(sm, name)


def test_without_the_opt_in_containers_get_no_aws_credentials(daemon: DaemonHandle, sm: Any, echo_image: str) -> None:
    name = unique("nos3")
    try:
        deploy(sm, name, echo_containers(echo_image, 1))
        cid = daemon.containers_of(name)[0]
        env = subprocess.run(["docker", "exec", cid, "env"], capture_output=True, text=True, check=True).stdout
        assert "AWS_ACCESS_KEY_ID" not in env and "AWS_ENDPOINT_URL_S3" not in env
    finally:
        teardown(sm, name)
