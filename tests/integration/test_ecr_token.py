"""The ECR login inferpipe uses under INFERPIPE_IMAGE_PULL, against moto's server (a real HTTP ECR API)."""

from __future__ import annotations

from typing import Any

import pytest

from inferpipe.core.containers.images import ecr_auth, ecr_client


def test_ecr_credentials_come_from_get_authorization_token(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", s3_server.url)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    auth = ecr_auth("123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:1", ecr_client)
    assert auth is not None and auth["username"] == "AWS" and auth["password"]
