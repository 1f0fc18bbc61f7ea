"""Instance caps and odd input against a daemon that really runs containers: a refused call starts
no container and changes no endpoint; odd invocation headers on a live endpoint never get an
undocumented 5xx."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import deploy, echo_containers, teardown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import DaemonHandle, cleanup, make_daemon

TOTAL = "instances in total (endpoints, deployments in progress and transform jobs)"


@pytest.fixture(scope="module")
def capped(echo_image: str) -> Iterator[tuple[DaemonHandle, Any]]:
    """A daemon allowed 3 instances in all, serving one endpoint of 2 instances."""
    d = make_daemon(INFERPIPE_MAX_INSTANCES="3")
    d.start()
    sm = d.client()
    try:
        deploy(sm, "serving", echo_containers(echo_image, 1), instances=2)
        sm.create_endpoint_config(
            EndpointConfigName="two-more",
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "serving", "InitialInstanceCount": 2}],
        )
        yield d, sm
        teardown(sm, "serving")
    finally:
        cleanup(d)


def over_total(used: int, delta: int, where: str) -> str:
    return (
        f"The account-level service limit '{TOTAL}' is 3 Instances, with current utilization of {used} Instances"
        f" and a request delta of {delta} Instances for {where}. Set INFERPIPE_MAX_INSTANCES for the inferpipe"
        " daemon to raise this limit."
    )


def test_calls_over_the_instance_cap_start_no_container(capped: tuple[DaemonHandle, Any]) -> None:
    d, sm = capped
    running = sorted(d.containers())
    serving = sm.describe_endpoint(EndpointName="serving")
    data = Path(tempfile.mkdtemp(prefix="inferpipe-limits-"))
    (data / "in.csv").write_text("1\n")
    calls = [
        (
            lambda: sm.create_endpoint(EndpointName="second", EndpointConfigName="two-more"),
            over_total(2, 2, "endpoint second"),
        ),
        (
            lambda: sm.update_endpoint(EndpointName="serving", EndpointConfigName="two-more"),
            over_total(2, 2, "endpoint serving"),
        ),
        (
            lambda: sm.update_endpoint_weights_and_capacities(
                EndpointName="serving",
                DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 4}],
            ),
            over_total(2, 2, "endpoint serving"),
        ),
        (
            lambda: sm.create_transform_job(
                TransformJobName="wide",
                ModelName="serving",
                TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(data)}}},
                TransformOutput={"S3OutputPath": str(data / "out")},
                TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 2},
            ),
            over_total(2, 2, "transform job wide"),
        ),
    ]
    for call, message in calls:
        with pytest.raises(sm.exceptions.ResourceLimitExceeded) as err:
            call()
        assert err.value.response["Error"]["Message"] == message
    assert sorted(d.containers()) == running
    after = sm.describe_endpoint(EndpointName="serving")
    assert after["EndpointStatus"] == "InService" and "FailureReason" not in after
    assert after["ProductionVariants"] == serving["ProductionVariants"]
    assert sm.list_endpoints()["Endpoints"][0]["EndpointName"] == "serving"
    assert len(sm.list_endpoints()["Endpoints"]) == 1
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []


def test_odd_invocation_headers_are_refused_by_name(capped: tuple[DaemonHandle, Any]) -> None:
    d, _ = capped
    cases = {
        "X-Amzn-SageMaker-Custom-Attributes": ("caf\u00e9".encode(), "customAttributes", r"\p{ASCII}*"),
        "Content-Type": (b"text/" + b"x" * 1100, "contentType", None),
        "X-Amzn-SageMaker-Target-Variant": (b"All_Traffic", "targetVariant", "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"),
        "X-Amzn-SageMaker-Inference-Id": ("id-\u00e9".encode(), "inferenceId", r"\A\S[\p{Print}]*\z"),
    }
    for header, (value, member, pattern) in cases.items():
        resp = d.raw_invoke("serving", b"x", {header: value})
        assert resp.status_code == 400, (header, resp.text)
        assert resp.headers["x-amzn-ErrorType"] == "ValidationError"
        message = resp.json()["Message"]
        assert message.startswith("1 validation error detected: Value '")
        expected = (
            f"Member must satisfy regular expression pattern: {pattern}"
            if pattern
            else "Member must have length less than or equal to 1024"
        )
        assert message.endswith(f"' at '{member}' failed to satisfy constraint: {expected}"), message
    ok = d.raw_invoke("serving", b"fine", {"Content-Type": b"text/csv", "X-Amzn-SageMaker-Custom-Attributes": b"a=1"})
    assert ok.status_code == 200 and ok.content.startswith(b"fine")


HTTP_FIELD_VALUE = re.compile(rb"([\x21-\x7e\x80-\xff]([\x20-\x7e\x80-\xff\t]*[\x21-\x7e\x80-\xff])?)?")
HEADERS = [
    "Content-Type",
    "Accept",
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-Target-Variant",
    "X-Amzn-SageMaker-Target-Container-Hostname",
    "X-Amzn-SageMaker-Inference-Id",
]


@settings(max_examples=30, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.dictionaries(
        st.sampled_from(HEADERS),
        st.one_of(
            st.binary(max_size=30).filter(lambda b: HTTP_FIELD_VALUE.fullmatch(b) is not None),
            st.sampled_from([b"AllTraffic", b"container-1", b"application/json", b"id-1", "\u00e9".encode()]),
        ),
        max_size=4,
    ),
    body=st.binary(max_size=64),
)
def test_a_live_endpoint_answers_odd_headers_without_an_undocumented_5xx(
    capped: tuple[DaemonHandle, Any], headers: dict[str, bytes], body: bytes
) -> None:
    d, _ = capped
    resp = d.raw_invoke("serving", body, headers)
    code = resp.headers.get("x-amzn-ErrorType", "").split(":")[0]
    shown = f"{headers!r} -> {resp.status_code} {code} {resp.text[:300]}"
    if resp.status_code == 200:
        return
    # A header value that is not UTF-8 cannot be signed by botocore (the tests' signer), so the
    # daemon answers it as a bad signature: a 403, as much a refusal as a ValidationError.
    assert resp.status_code in (400, 403, 424, 503), shown
    expected = {400: "ValidationError", 403: "InvalidSignatureException", 424: "ModelError", 503: "ServiceUnavailable"}
    assert code == expected[resp.status_code], shown
    assert json.loads(resp.content)["Message"], shown
