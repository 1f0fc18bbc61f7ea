"""ECR image names and the pull policy (containers/images.py), on the fake runtime."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fake_runtime import FakeRuntime

from inferpipe.core.containers.images import (
    ImageName,
    absent_image_hint,
    ecr_auth,
    ensure_image,
    parse_image,
    repository_of,
)
from inferpipe.core.containers.runtime import RuntimeProblem, missing_image

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ImageName(None, "nginx", None, None)),
        ("inferpipe-test/echo:1", ImageName(None, "inferpipe-test/echo", "1", None)),
        ("localhost:5000/repo:tag", ImageName("localhost:5000", "repo", "tag", None)),
        (ECR, ImageName("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "sagemaker-xgboost", "1.7-1", None)),
        ("host.io/a/b@sha256:abc", ImageName("host.io", "a/b", None, "sha256:abc")),
    ],
)
def test_parse_image(image: str, expected: ImageName) -> None:
    assert parse_image(image) == expected


def test_ecr_region_and_repository() -> None:
    assert parse_image(ECR).ecr_region == "eu-west-1"
    assert parse_image("763104351884.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch:2").ecr_region == "cn-north-1"
    assert parse_image("docker.io/library/nginx:1").ecr_region is None
    assert repository_of("localhost:5000/repo:tag") == "localhost:5000/repo"


def test_absent_ecr_image_says_how_to_provide_it() -> None:
    text = missing_image(ECR)
    assert ECR in text and "docker tag" in text and "docker load" in text and "INFERPIPE_IMAGE_PULL" in text
    assert absent_image_hint("inferpipe-test/echo:1") == ""


class FakeEcr:
    def __init__(self) -> None:
        self.regions: list[str] = []

    def __call__(self, region: str) -> Any:
        self.regions.append(region)
        return self

    def get_authorization_token(self) -> dict[str, Any]:
        token = base64.b64encode(b"AWS:s3cret").decode()
        return {"authorizationData": [{"authorizationToken": token}]}


def test_ecr_auth_decodes_the_token() -> None:
    ecr = FakeEcr()
    assert ecr_auth(ECR, ecr) == {"username": "AWS", "password": "s3cret"}
    assert ecr.regions == ["eu-west-1"]
    assert ecr_auth("quay.io/x/y:1", ecr) is None


def test_pull_policy() -> None:
    runtime = FakeRuntime(["present:1"])
    runtime.pullable = {"present:1", ECR}
    ecr = FakeEcr()
    ensure_image(runtime, ECR, "never", ecr)
    assert runtime.pulls == []
    ensure_image(runtime, "present:1", "missing", ecr)
    assert runtime.pulls == []
    ensure_image(runtime, ECR, "missing", ecr)
    assert runtime.pulls == [(ECR, {"username": "AWS", "password": "s3cret"})]
    ensure_image(runtime, "present:1", "always", ecr)
    assert runtime.pulls[-1] == ("present:1", None)
    with pytest.raises(RuntimeProblem, match="Could not pull image gone:1"):
        ensure_image(runtime, "gone:1", "missing", ecr)
