from __future__ import annotations

from pathlib import Path

import pytest

from inferpipe.core.config import Settings
from inferpipe.core.containers.s3env import container_endpoint, container_s3_env


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9000", "http://host.docker.internal:9000"),
        ("http://localhost:4566/", "http://host.docker.internal:4566/"),
        ("http://[::1]:9000", "http://host.docker.internal:9000"),
        ("http://127.0.0.2:9000", "http://host.docker.internal:9000"),
        ("https://minio.lan:9000", "https://minio.lan:9000"),
        ("http://172.17.0.1:9000", "http://172.17.0.1:9000"),
    ],
)
def test_loopback_endpoints_are_rewritten_for_containers(url: str, expected: str) -> None:
    assert container_endpoint(url) == expected


def test_env_only_with_the_opt_in(tmp_path: Path) -> None:
    fields = {
        "home": tmp_path,
        "s3_endpoint_url": "http://127.0.0.1:9000",
        "s3_access_key_id": "AKIDEXAMPLE",
        "s3_secret_access_key": "secret",
        "s3_region": "eu-west-1",
    }
    assert container_s3_env(Settings(**fields)) == {}  # type: ignore[arg-type]
    env = container_s3_env(Settings(container_s3=True, **fields))  # type: ignore[arg-type]
    assert env == {
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_S3": "http://host.docker.internal:9000",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
