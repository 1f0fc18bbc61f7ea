"""Instance caps refuse, before anything is stored or started, every call that would go over them,
with SageMaker's ResourceLimitExceeded as boto3 raises it. A daemon with small caps and no Docker
engine reachable: a refusal needs neither (the e2e suite checks that no container appears)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import DaemonHandle, cleanup, make_daemon

IMAGE = "example.com/limits:1"
CAPS = {
    "INFERPIPE_MAX_INSTANCES_PER_VARIANT": "3",
    "INFERPIPE_MAX_INSTANCES_PER_ENDPOINT": "5",
    "INFERPIPE_MAX_INSTANCES": "4",
}


def limit_message(limit: str, cap: int, used: int, delta: int, where: str, setting: str) -> str:
    return (
        f"The account-level service limit '{limit}' is {cap} Instances, with current utilization of {used} Instances"
        f" and a request delta of {delta} Instances {where}. Set {setting} for the inferpipe daemon to raise"
        " this limit."
    )


@pytest.fixture(scope="module")
def daemon() -> Iterator[DaemonHandle]:
    d = make_daemon(DOCKER_HOST="unix:///nonexistent/inferpipe-limits/docker.sock", **CAPS)
    d.start()
    yield d
    cleanup(d)


@pytest.fixture(scope="module")
def sm(daemon: DaemonHandle) -> Any:
    sm = daemon.client()
    sm.create_model(ModelName="m", PrimaryContainer={"Image": IMAGE})
    for name, counts in (("three", [3]), ("three-two", [3, 2]), ("three-three", [3, 3])):
        sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {"VariantName": f"v{i}", "ModelName": "m", "InitialInstanceCount": n} for i, n in enumerate(counts)
            ],
        )
    return sm


def refused(daemon: DaemonHandle, sm: Any, call: Any, message: str) -> None:
    before = daemon.store_snapshot()
    with pytest.raises(sm.exceptions.ResourceLimitExceeded) as err:
        call()
    assert err.value.response["Error"]["Message"] == message
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert daemon.store_snapshot() == before


def test_a_variant_over_its_cap_is_refused_at_create_endpoint_config(daemon: DaemonHandle, sm: Any) -> None:
    refused(
        daemon,
        sm,
        lambda: sm.create_endpoint_config(
            EndpointConfigName="huge",
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 100000}],
        ),
        limit_message(
            "instances per production variant",
            3,
            0,
            100000,
            "for production variant AllTraffic",
            "INFERPIPE_MAX_INSTANCES_PER_VARIANT",
        ),
    )


def test_an_endpoint_over_its_cap_is_refused(daemon: DaemonHandle, sm: Any) -> None:
    refused(
        daemon,
        sm,
        lambda: sm.create_endpoint(EndpointName="six", EndpointConfigName="three-three"),
        limit_message("instances per endpoint", 5, 0, 6, "for endpoint six", "INFERPIPE_MAX_INSTANCES_PER_ENDPOINT"),
    )


def test_going_over_the_total_is_refused_for_endpoints_and_transform_jobs(
    daemon: DaemonHandle, sm: Any, tmp_path: Path
) -> None:
    total = "instances in total (endpoints, deployments in progress and transform jobs)"
    refused(
        daemon,
        sm,
        lambda: sm.create_endpoint(EndpointName="five", EndpointConfigName="three-two"),
        limit_message(total, 4, 0, 5, "for endpoint five", "INFERPIPE_MAX_INSTANCES"),
    )
    (tmp_path / "in.csv").write_text("1\n")
    refused(
        daemon,
        sm,
        lambda: sm.create_transform_job(
            TransformJobName="wide",
            ModelName="m",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(tmp_path)}}},
            TransformOutput={"S3OutputPath": str(tmp_path / "out")},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 5},
        ),
        limit_message(total, 4, 0, 5, "for transform job wide", "INFERPIPE_MAX_INSTANCES"),
    )


def test_within_the_caps_is_accepted(sm: Any) -> None:
    """The caps are not off by one: three instances of one variant, under every cap, are accepted."""
    assert sm.create_endpoint(EndpointName="three", EndpointConfigName="three")["EndpointArn"]


def test_a_bad_cap_setting_stops_the_daemon_with_one_line() -> None:
    d = make_daemon(INFERPIPE_MAX_INSTANCES="many")
    try:
        with pytest.raises(RuntimeError) as err:
            d.start(wait=10)
        assert "INFERPIPE_MAX_INSTANCES='many' is not valid: expected an integer of at least 1." in str(err.value)
        assert "Traceback" not in str(err.value)
    finally:
        cleanup(d)
