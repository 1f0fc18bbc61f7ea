"""Helpers the tests share: a real daemon in a temporary home (from inferpipe_testing, which the
bench uses too), boto3 clients pointed at it, waits, the CLI."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from botocore import xform_name
from inferpipe_testing.daemon import DaemonHandle, cleanup, free_port, make_daemon

__all__ = [
    "REPO",
    "DaemonHandle",
    "build_test_images",
    "cleanup",
    "ensure_docker",
    "free_port",
    "make_daemon",
    "raw_response",
    "wait_endpoint",
    "wait_gone",
]

REPO = Path(__file__).resolve().parent.parent


def raw_response(client: Any, operation: str, **params: Any) -> Any:
    """Call `operation` through boto3 (signed like any call) and return the daemon's JSON as it
    was sent: boto3 drops the members its model does not know (InferpipeInstances...)."""
    captured: dict[str, bytes] = {}

    def keep(http_response: Any, **_: Any) -> None:
        captured["body"] = http_response.content

    event = f"after-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, keep, unique_id=f"raw-{id(captured)}")
    try:
        getattr(client, xform_name(operation))(**params)
    finally:
        client.meta.events.unregister(event, unique_id=f"raw-{id(captured)}")
    return json.loads(captured["body"])


def wait_endpoint(sm: Any, name: str, status: str = "InService", timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_endpoint(EndpointName=name)
        if desc["EndpointStatus"] == status:
            return desc
        if desc["EndpointStatus"] == "Failed" and status != "Failed":
            raise AssertionError(f"endpoint {name} failed: {desc.get('FailureReason')}")
        if time.monotonic() > deadline:
            raise AssertionError(f"endpoint {name} still {desc['EndpointStatus']} after {timeout} s")
        time.sleep(0.25)


def wait_gone(sm: Any, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sm.describe_endpoint(EndpointName=name)
        except sm.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationException":
                return
            raise
        time.sleep(0.25)
    raise AssertionError(f"endpoint {name} not deleted after {timeout} s")


def ensure_docker() -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "ensure-docker.sh")], check=True)


def build_test_images() -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "build-test-images.sh")], check=True)
