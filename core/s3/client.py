"""The S3 client, from the standard AWS configuration of the daemon's environment, or from the
INFERPIPE_S3_* settings when they are given (so inferpipe's S3 credentials can differ from any
other AWS credentials the daemon's environment holds)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from ..config import Settings
from .objects import S3Objects


def s3_client(settings: Settings) -> Any:
    """A botocore S3 client. Precedence: INFERPIPE_S3_* settings, then what boto3 reads itself
    (AWS_* variables, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, the shared config and credentials
    files, AWS_PROFILE), then the daemon's region."""
    session = boto3.session.Session(profile_name=settings.s3_profile or None)
    s3_config: dict[str, str] = {}
    if settings.s3_endpoint_url:
        # MinIO, LocalStack and moto name buckets in the path; virtual hosts need DNS they lack.
        s3_config["addressing_style"] = "path"
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        max_pool_connections=settings.s3_max_connections,
        # botocore's 60 s connect timeout, times its retries, would hold a fleet start for minutes
        # on an endpoint that drops packets
        connect_timeout=settings.s3_connect_timeout,
        read_timeout=settings.s3_read_timeout,
        s3=s3_config or None,
    )
    kwargs: dict[str, Any] = {
        "region_name": settings.s3_region or session.region_name or settings.region,
        "config": config,
    }
    if settings.s3_endpoint_url:
        kwargs["endpoint_url"] = settings.s3_endpoint_url
    if settings.s3_access_key_id:
        kwargs["aws_access_key_id"] = settings.s3_access_key_id
        kwargs["aws_secret_access_key"] = settings.s3_secret_access_key
        if settings.s3_session_token:
            kwargs["aws_session_token"] = settings.s3_session_token
    return session.client("s3", **kwargs)


def s3_objects(settings: Settings) -> S3Objects:
    return S3Objects(s3_client(settings), part_size=settings.s3_part_size)


def s3_access(settings: Settings) -> tuple[str | None, str, Any]:
    """What a process needs to reach the same S3 as the daemon: the endpoint URL (None for AWS's
    own), the region, and frozen credentials (None when none are configured). Resolved now, so
    temporary credentials are a snapshot that expires when they do."""
    client = s3_client(settings)
    endpoint = client.meta.endpoint_url
    if endpoint and ".amazonaws.com" in endpoint:
        endpoint = None
    credentials = client._request_signer._credentials  # botocore keeps the resolved chain's result here
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    return endpoint, client.meta.region_name, frozen
