"""Image names as SageMaker users write them, and the pull policy.

An ECR URI (<account>.dkr.ecr.<region>.amazonaws.com/repo:tag) is an ordinary Docker reference:
it resolves to the local image of exactly that name, so `docker tag` or `docker load` makes it
available offline. Pulling happens only under an explicit INFERPIPE_IMAGE_PULL policy; for ECR hosts
the registry password comes from ECR's GetAuthorizationToken through boto3 (the standard AWS
configuration of the daemon's environment)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PULL_POLICIES = ("never", "missing", "always")
_ECR_HOST = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class ImageName:
    registry: str | None  # None: Docker Hub's implicit registry
    repository: str
    tag: str | None
    digest: str | None

    @property
    def ecr_region(self) -> str | None:
        match = _ECR_HOST.match(self.registry or "")
        return match.group("region") if match else None


def parse_image(image: str) -> ImageName:
    """Split a Docker reference the way Docker does: the first component is a registry only if it
    holds a '.' or a ':' or is 'localhost'."""
    rest, _, digest = image.partition("@")
    first, slash, remainder = rest.partition("/")
    registry = None
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    last = rest.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        rest, _, tag = rest.rpartition(":")
    return ImageName(registry, rest, tag, digest or None)


def repository_of(image: str) -> str:
    """The reference without its tag or digest (registry kept): `host:5000/repo:tag` gives `host:5000/repo`."""
    name = parse_image(image)
    return f"{name.registry}/{name.repository}" if name.registry else name.repository


def ecr_auth(image: str, client_factory: Callable[[str], Any]) -> dict[str, str] | None:
    """Docker credentials for an ECR image (None for any other registry): ECR's token is
    base64("AWS:<password>")."""
    region = parse_image(image).ecr_region
    if region is None:
        return None
    data = client_factory(region).get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {"username": user, "password": password}


def ecr_client(region: str) -> Any:
    import boto3

    return boto3.session.Session().client("ecr", region_name=region)


def must_pull(policy: str, present: bool) -> bool:
    return policy == "always" or (policy == "missing" and not present)


def absent_image_hint(image: str) -> str:
    """What to do about an image that is not here, beyond building it: ECR images are usually
    copied from a machine that can pull them."""
    if parse_image(image).ecr_region is None:
        return ""
    return (
        " It is an ECR image: on a machine that can reach ECR, `aws ecr get-login-password | docker login"
        f" --username AWS --password-stdin {parse_image(image).registry}`, `docker pull {image}` and"
        f" `docker save {image} -o image.tar`; then here `docker load -i image.tar`. Or set"
        " INFERPIPE_IMAGE_PULL=missing to let inferpipe pull it with the daemon's AWS credentials."
    )


def ensure_image(runtime: Any, image: str, policy: str, client_factory: Callable[[str], Any] = ecr_client) -> None:
    """Pull `image` if the policy says so; `never` does nothing, so the start-up check that follows
    reports an absent image with what to do."""
    from inferpipe.core.containers.runtime import RuntimeProblem

    if policy == "never":
        return
    try:
        runtime.inspect_image(image)
        present = True
    except RuntimeProblem:
        present = False
    if not must_pull(policy, present):
        return
    try:
        auth = ecr_auth(image, client_factory)
    except Exception as exc:  # noqa: BLE001 - any AWS failure becomes the reason the pull could not start
        raise RuntimeProblem(
            f"Could not get ECR credentials to pull {image} (INFERPIPE_IMAGE_PULL={policy}): {exc}. Check the"
            " daemon's AWS configuration, or provide the image locally (docker load) and set"
            " INFERPIPE_IMAGE_PULL=never."
        ) from exc
    runtime.pull_image(image, auth)
