"""INFERPIPE_CONTAINER_S3=1: containers reach S3 themselves (SageMaker's framework containers
fetch SAGEMAKER_SUBMIT_DIRECTORY=s3://…/sourcedir.tar.gz) with the daemon's S3 endpoint and
credentials, through the standard AWS environment variables. Opt-in: it hands every container
those credentials.

An endpoint on the host's loopback means nothing inside a container, so it is rewritten to
host.docker.internal, which the runtime maps to the host's bridge address (Docker's host-gateway):
the S3 server must then listen on that address too (0.0.0.0, or the bridge's gateway)."""

from __future__ import annotations

import ipaddress
import urllib.parse

from inferpipe.core.config import Settings

HOST_ALIAS = "host.docker.internal"


def container_endpoint(url: str) -> str:
    """`url` as a container sees the same server: a loopback host becomes host.docker.internal."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return url
    netloc = HOST_ALIAS + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def container_s3_env(settings: Settings) -> dict[str, str]:
    """The AWS variables every container gets when INFERPIPE_CONTAINER_S3=1 (empty otherwise)."""
    if not settings.container_s3:
        return {}
    from inferpipe.core.s3.client import s3_access

    endpoint, region, credentials = s3_access(settings)
    env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    if endpoint:
        env["AWS_ENDPOINT_URL_S3"] = container_endpoint(endpoint)
    if credentials is not None:
        env["AWS_ACCESS_KEY_ID"] = credentials.access_key
        env["AWS_SECRET_ACCESS_KEY"] = credentials.secret_key
        if credentials.token:
            env["AWS_SESSION_TOKEN"] = credentials.token
    return env
