"""Image names as SageMaker users write them: an ECR URI resolves to the local image of exactly
that name (made here with `docker tag`), and an absent one fails saying how to provide it."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import deploy, echo_containers, teardown, unique
from support import wait_endpoint

REGISTRY = "123456789012.dkr.ecr.us-west-2.amazonaws.com"


@pytest.fixture
def ecr_image(echo_image: str) -> Iterator[str]:
    name = f"{REGISTRY}/inferpipe-test-echo:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "tag", echo_image, name], check=True)
    yield name
    subprocess.run(["docker", "rmi", name], capture_output=True, check=False)


def test_ecr_named_image_is_the_local_image_of_that_name(sm: Any, rt: Any, daemon: Any, ecr_image: str) -> None:
    name = unique("ecr")
    try:
        deploy(sm, name, echo_containers(ecr_image, 2))
        body = rt.invoke_endpoint(EndpointName=name, Body=b"x", ContentType="text/plain")["Body"].read().decode()
        assert body.startswith("x|container-1@") and "|container-2@" in body
        image = subprocess.run(
            ["docker", "inspect", "--format", "{{.Config.Image}}", daemon.containers_of(name, "container-1")[0]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert image.startswith("sha256:") or image == ecr_image  # created from the tagged image's id
    finally:
        teardown(sm, name)


def test_absent_ecr_image_fails_naming_it_and_how_to_provide_it(sm: Any, daemon: Any, echo_image: str) -> None:
    absent = f"{REGISTRY}/never-tagged-here:{uuid.uuid4().hex[:8]}"
    name = unique("ecr-absent")
    containers = echo_containers(echo_image, 2)
    containers[1]["Image"] = absent
    try:
        deploy(sm, name, containers, wait=None)
        reason = wait_endpoint(sm, name, "Failed", timeout=60)["FailureReason"]
        assert absent in reason and "docker tag" in reason and "docker load" in reason, reason
        assert not daemon.containers_of(name)
    finally:
        teardown(sm, name)
