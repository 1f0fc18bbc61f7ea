"""Bodies that used to crash the daemon (500 InternalFailure with the exception's text, a traceback in
the log) or be stored: each is now a 400 with the exact error a boto3 user sees, the store is left as
it was, and the daemon log gets one line for it. Also: a flood of them keeps the log bounded."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from support import DaemonHandle, cleanup, make_daemon

SERIALIZATION, VALIDATION = "SerializationException", "ValidationException"
IMAGE = "example.com/bodies:1"
DEEP = "The request body nests objects and arrays more than 32 levels deep, deeper than any SageMaker request"
DEEP += " (INFERPIPE_MAX_REQUEST_DEPTH sets this limit)."


def one(value: str, path: str, constraint: str) -> str:
    return f"1 validation error detected: Value {value} at '{path}' failed to satisfy constraint: {constraint}"


def surrogate(where: str) -> str:
    return (
        f"The request body is not valid: the string at '{where}' (or its member name) holds a lone UTF-16 surrogate"
        " escape such as \\ud800, which is not a Unicode character."
    )


def j(value: Any) -> bytes:
    return json.dumps(value).encode()


VARIANT = {"VariantName": "AllTraffic", "ModelName": "bodies-model", "InitialInstanceCount": 1}
ALARM = {
    "AlarmName": "bodies-alarm",
    "MetricName": "Invocations",
    "Statistic": "Sum",
    "Period": 60,
    "EvaluationPeriods": 1,
    "Threshold": 1,
    "ComparisonOperator": "GreaterThanThreshold",
}

CASES = [
    # (id, target, body, code, message)
    (
        "invalid-utf8",
        "SageMaker.CreateModel",
        b"\xff\xfe{",
        SERIALIZATION,
        "The request body is not valid UTF-8 (byte 0xff at offset 0): a SageMaker request is a UTF-8 encoded JSON"
        " object.",
    ),
    (
        "invalid-utf8-in-a-string",
        "SageMaker.CreateModel",
        b'{"ModelName": "caf\xe9"}',
        SERIALIZATION,
        "The request body is not valid UTF-8 (byte 0xe9 at offset 18): a SageMaker request is a UTF-8 encoded JSON"
        " object.",
    ),
    ("nested-600-objects", "SageMaker.CreateModel", b'{"a":' * 600 + b"1" + b"}" * 600, SERIALIZATION, DEEP),
    ("nested-100k-arrays", "SageMaker.ListModels", b"[" * 100_000 + b"]" * 100_000, SERIALIZATION, DEEP),
    ("not-an-object", "SageMaker.ListModels", b"[1, 2]", SERIALIZATION, "The request body must be a JSON object."),
    (
        "surrogate-in-environment",
        "SageMaker.CreateModel",
        j({"ModelName": "s", "PrimaryContainer": {"Image": IMAGE, "Environment": {"A": "\ud800"}}}),
        SERIALIZATION,
        surrogate("PrimaryContainer.Environment.A"),
    ),
    (
        "surrogate-in-a-key",
        "SageMaker.CreateModel",
        j({"ModelName": "s", "PrimaryContainer": {"Image": IMAGE, "Environment": {"\udfff": "x"}}}),
        SERIALIZATION,
        surrogate("PrimaryContainer.Environment.\\udfff"),
    ),
    (
        "surrogate-in-a-tag",
        "SageMaker.AddTags",
        j(
            {
                "ResourceArn": "arn:aws:sagemaker:us-east-1:000000000000:model/x",
                "Tags": [{"Key": "k", "Value": "\udc80"}],
            }
        ),
        SERIALIZATION,
        surrogate("Tags.0.Value"),
    ),
    (
        "nan-weight",
        "SageMaker.CreateEndpointConfig",
        b'{"EndpointConfigName": "n", "ProductionVariants": [{"VariantName": "a", "ModelName": "bodies-model",'
        b' "InitialInstanceCount": 1, "InitialVariantWeight": NaN}]}',
        SERIALIZATION,
        "The request body is not valid JSON: NaN is not a JSON number (JSON has no NaN or Infinity).",
    ),
    (
        "infinity",
        "Inferpipe.PutMetricAlarm",
        j(ALARM)[:-1] + b', "Threshold": -Infinity}',
        SERIALIZATION,
        "The request body is not valid JSON: -Infinity is not a JSON number (JSON has no NaN or Infinity).",
    ),
    (
        "float-overflow",
        "Inferpipe.PutMetricAlarm",
        j(ALARM)[:-1] + b', "Threshold": 1e999}',
        SERIALIZATION,
        "The request body is not valid JSON: the number 1e999 is out of range.",
    ),
    (
        "5000-digit-integer",
        "SageMaker.ListModels",
        b'{"MaxResults": ' + b"9" * 5000 + b"}",
        SERIALIZATION,
        f"The request body is not valid JSON: the number {'9' * 40}... is out of range of a 64-bit integer.",
    ),
    (
        "32-bit-integer",
        "SageMaker.CreateEndpointConfig",
        j({"EndpointConfigName": "big", "ProductionVariants": [{**VARIANT, "InitialInstanceCount": 2**40}]}),
        VALIDATION,
        one(
            "'1099511627776'",
            "productionVariants.1.member.initialInstanceCount",
            "Member must have value less than or equal to 2147483647",
        ),
    ),
    (
        "canary-size-not-a-structure",
        "SageMaker.CreateEndpoint",
        j(
            {
                "EndpointName": "e",
                "EndpointConfigName": "c",
                "DeploymentConfig": {
                    "BlueGreenUpdatePolicy": {
                        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 1, "CanarySize": 5}
                    }
                },
            }
        ),
        VALIDATION,
        one(
            "'5'",
            "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.canarySize",
            "Member must be a structure",
        ),
    ),
    (
        "transform-input-not-a-structure",
        "SageMaker.CreateTransformJob",
        j(
            {
                "TransformJobName": "t",
                "ModelName": "bodies-model",
                "TransformInput": 5,
                "TransformOutput": {"S3OutputPath": "/tmp/out"},
                "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            }
        ),
        VALIDATION,
        one("'5'", "transformInput", "Member must be a structure"),
    ),
    (
        "rollback-alarm-without-name",
        "SageMaker.UpdateEndpoint",
        j(
            {
                "EndpointName": "e",
                "EndpointConfigName": "c",
                "DeploymentConfig": {"AutoRollbackConfiguration": {"Alarms": [{}]}},
            }
        ),
        VALIDATION,
        one("null", "deploymentConfig.autoRollbackConfiguration.alarms.1.member.alarmName", "Member must not be null"),
    ),
    (
        "events-limit",
        "Inferpipe.Events",
        j({"Limit": "x"}),
        VALIDATION,
        one("'x'", "limit", "Member must be an integer"),
    ),
    (
        "events-kind",
        "Inferpipe.Events",
        j({"Kind": [False]}),
        VALIDATION,
        one("'[false]'", "kind", "Member must be a string"),
    ),
    (
        "delete-alarms-not-a-list",
        "Inferpipe.DeleteAlarms",
        j({"AlarmNames": 5}),
        VALIDATION,
        one("'5'", "alarmNames", "Member must be a list"),
    ),
    (
        "describe-alarms-null-name",
        "Inferpipe.DescribeAlarms",
        j({"AlarmNames": [None]}),
        VALIDATION,
        one("null", "alarmNames.1.member", "Member must not be null"),
    ),
    (
        "alarm-dimension-without-value",
        "Inferpipe.PutMetricAlarm",
        j({**ALARM, "Dimensions": [{"Name": "EndpointName"}]}),
        VALIDATION,
        one("null", "dimensions.1.member.value", "Member must not be null"),
    ),
    (
        "alarm-percentile",
        "Inferpipe.PutMetricAlarm",
        j(
            {
                **ALARM,
                "Statistic": None,
                "ExtendedStatistic": "p1.2.3",
                "Dimensions": [{"Name": "EndpointName", "Value": "e"}],
            }
        ),
        VALIDATION,
        one(
            "'p1.2.3'",
            "statistic",
            "Member must satisfy enum value set: [SampleCount, Average, Sum, Minimum, Maximum] or be pNN",
        ),
    ),
    (
        "metrics-seconds",
        "Inferpipe.EndpointMetrics",
        j({"EndpointName": "e", "Seconds": "soon"}),
        VALIDATION,
        one("'soon'", "seconds", "Member must be a number"),
    ),
    (
        "logs-endpoint-name",
        "Inferpipe.Logs",
        j({"EndpointName": ["e"]}),
        VALIDATION,
        one("'[e]'", "endpointName", "Member must be a string"),
    ),
    (
        "list-time-out-of-range",
        "SageMaker.ListEndpoints",
        j({"CreationTimeAfter": 10**19}),
        SERIALIZATION,
        "The request body is not valid JSON: the number 10000000000000000000 is out of range of a 64-bit integer.",
    ),
]


@pytest.fixture(scope="module")
def daemon() -> Iterator[DaemonHandle]:
    d = make_daemon(DOCKER_HOST="unix:///nonexistent/inferpipe-bodies/docker.sock")
    d.start()
    d.client().create_model(ModelName="bodies-model", PrimaryContainer={"Image": IMAGE})
    yield d
    cleanup(d)


@pytest.mark.parametrize(("target", "body", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_body_is_a_400_with_the_exact_error(
    daemon: DaemonHandle, target: str, body: bytes, code: str, message: str
) -> None:
    before = daemon.store_snapshot()
    resp = daemon.raw_call(target, body)
    assert resp.status_code == 400, resp.text
    assert resp.json() == {"__type": code, "message": message}
    assert daemon.store_snapshot() == before
    assert f"{target} refused: {code}: {message[:60]}" in daemon.log_text()


def test_boto3_nan_is_refused_by_name(daemon: DaemonHandle) -> None:
    """botocore sends a NaN float as the string "NaN" (the JSON protocols' encoding): refused, by name."""
    sm = daemon.client()
    before = daemon.store_snapshot()
    with pytest.raises(sm.exceptions.ClientError) as err:
        sm.create_endpoint_config(
            EndpointConfigName="nan",
            ProductionVariants=[{**VARIANT, "InitialVariantWeight": float("nan")}],
        )
    assert err.value.response["Error"] == {
        "Code": VALIDATION,
        "Message": one("'NaN'", "productionVariants.1.member.initialVariantWeight", "Member must be a finite number"),
    }
    assert daemon.store_snapshot() == before


def test_an_internal_error_tells_the_caller_only_a_request_id(daemon: DaemonHandle) -> None:
    """A bug still answers 500, but with a generic message naming the request id; the traceback is
    logged once, under that id. (Provoked through a damaged store row: an alarm without a Period,
    which the API can no longer store.)"""
    spec = {k: v for k, v in ALARM.items() if k != "Period"} | {"AlarmName": "legacy"}
    db = sqlite3.connect(daemon.home / "state.db")
    with db:
        db.execute("INSERT INTO alarms (name, spec, updated) VALUES (?, ?, 0)", ("legacy", json.dumps(spec)))
    db.close()
    resp = daemon.raw_call("Inferpipe.DescribeAlarms", j({"AlarmNames": ["legacy"]}))
    assert resp.status_code == 500
    body = resp.json()
    assert body["__type"] == "InternalFailure"
    request_id = resp.headers["x-amzn-RequestId"]
    assert body["message"] == f"An internal error occurred. See the daemon log (request id {request_id})."
    log = daemon.log_text()
    assert log.count(f"request {request_id}: Inferpipe.DescribeAlarms failed\nTraceback") == 1


def test_a_flood_of_bad_requests_keeps_the_log_small_and_free_of_tracebacks() -> None:
    d = make_daemon(
        DOCKER_HOST="unix:///nonexistent/inferpipe-bodies/docker.sock",
        INFERPIPE_LOG_MAX_BYTES="20000",
        INFERPIPE_LOG_BACKUPS="2",
    )
    d.start()
    try:
        padding = "x" * 7000  # a 7 KB request: once 225 KiB of traceback in the log
        for _ in range(60):
            for _, target, body, _, _ in CASES:
                d.raw_call(target, body)
            d.raw_call("SageMaker.CreateModel", j({"ModelName": f"bad name {padding}", "Tag": [None]}))
            d.raw_call("SageMaker.CreateModel", b'{"ModelName": "\\ud800' + padding.encode() + b'"}')
            d.raw_call("SageMaker.CreateModel", b'{"ModelName": "a\\nforged 2026-01-01 ERROR line"}')
        for _ in range(3):  # not even HTTP: aiohttp's own refusal, one line too
            with socket.create_connection(("127.0.0.1", d.port)) as sock:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: \x01\r\nContent-Length: 0\r\n\r\n")
                assert sock.recv(100).split(b" ")[1] == b"400"
        files = [d.home / "daemon.log", d.home / "daemon.log.1", d.home / "daemon.log.2"]
        assert all(f.exists() for f in files) and not (d.home / "daemon.log.3").exists()
        assert all(f.stat().st_size <= 20000 for f in files)
        text = d.log_text()
        assert "Traceback" not in text
        lines = text.splitlines()
        assert all(len(line) < 800 for line in lines)
        assert not any(line.startswith("forged") for line in lines)  # a caller cannot start a log line
        assert any("malformed HTTP request (400)" in line for line in lines)
        # `inferpipe daemon logs` reads on across the rotation
        shown = d.cli("daemon", "logs", "--tail", "1000", check=True).stdout.decode().splitlines()
        current = (d.home / "daemon.log").read_text().splitlines()
        assert len(shown) > len(current) and shown[-len(current) :] == current
    finally:
        cleanup(d)
