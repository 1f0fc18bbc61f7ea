"""The SageMaker control plane driven by unmodified boto3: every model, endpoint-config and tag
operation, Describe's echo of what was accepted, ARNs, case-insensitive names, ListX filters and
paginators, and the wire edge's answers to unknown operations and garbage tokens."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"
JSON_11 = "application/x-amz-json-1.1"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def model_arn(name: str) -> str:
    return f"{ARN_PREFIX}:model/{name.lower()}"


def config_arn(name: str) -> str:
    return f"{ARN_PREFIX}:endpoint-config/{name.lower()}"


def raw_call(daemon: Any, operation: str, body: Any, target: str | None = None) -> httpx.Response:
    """One awsJson1.1 call without botocore's client in between (botocore only signs it): to see
    exactly what goes over the wire."""
    headers = {"Content-Type": JSON_11, "X-Amz-Target": f"SageMaker.{operation}" if target is None else target}
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(daemon.url + "/", content=content, headers=headers, timeout=30, auth=daemon.auth)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"]["HTTPStatusCode"]


def no_empty_or_null(value: Any, path: str = "") -> list[str]:
    """Paths holding null, {} or [] anywhere in a response (real SDKs re-send what they read)."""
    bad: list[str] = []
    if value is None or value == {} or value == []:
        return [path or "<root>"]
    if isinstance(value, dict):
        for k, v in value.items():
            bad += no_empty_or_null(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad += no_empty_or_null(v, f"{path}[{i}]")
    return bad


def simple_model(sm: Any, name: str, **extra: Any) -> str:
    return sm.create_model(ModelName=name, PrimaryContainer={"Image": "example.com/echo:1"}, **extra)["ModelArn"]


def simple_config(sm: Any, name: str, model: str, **extra: Any) -> str:
    variants = [{"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1}]
    return sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants, **extra)["EndpointConfigArn"]


# models ------------------------------------------------------------------------------------------
def test_model_lifecycle_and_describe_echoes_every_accepted_field(sm: Any) -> None:
    name = uniq("Pipeline-Model")
    containers = [
        {
            "ContainerHostname": "prep",
            "Image": "example.com/prep:1",
            "ModelDataUrl": "s3://bucket/prep/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "prep.py", "LOG_LEVEL": "debug"},
            "Mode": "SingleModel",
            "ImageConfig": {"RepositoryAccessMode": "Platform"},
        },
        {
            "ContainerHostname": "model",
            "Image": "example.com/xgb@sha256:" + "a" * 64,
            "ModelDataUrl": "file:///opt/models/xgb.tar.gz",
        },
        {"ContainerHostname": "post", "Image": "example.com/post:1", "ModelDataUrl": "/opt/models/post"},
    ]
    request = {
        "ModelName": name,
        "Containers": containers,
        "InferenceExecutionConfig": {"Mode": "Serial"},
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/service-role/SageMakerRole",
        "EnableNetworkIsolation": False,  # True is refused: see test_host_paths.py
        "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]},
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    created = sm.create_model(**request)
    assert created["ModelArn"] == model_arn(name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["ResponseMetadata"]["RequestId"]

    desc = sm.describe_model(ModelName=name)
    for key in ("ModelName", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig"):
        assert desc[key] == request[key], key
    assert desc["EnableNetworkIsolation"] is False
    assert desc["ModelArn"] == model_arn(name)
    assert isinstance(desc["CreationTime"], dt.datetime)
    assert before <= desc["CreationTime"] <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert "PrimaryContainer" not in desc

    listed = sm.list_models(NameContains=name)["Models"]
    assert listed == [{"ModelName": name, "ModelArn": model_arn(name), "CreationTime": desc["CreationTime"]}]

    assert sm.delete_model(ModelName=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sm.list_models(NameContains=name)["Models"] == []
    with pytest.raises(ClientError) as err:
        sm.describe_model(ModelName=name)
    assert error_of(err) == ("ValidationException", f'Could not find model "{model_arn(name)}".', 400)


def test_describe_model_omits_optional_structures_not_given(sm: Any, daemon: Any) -> None:
    name = uniq("minimal")
    simple_model(sm, name)
    resp = raw_call(daemon, "DescribeModel", {"ModelName": name})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith(JSON_11)
    body = resp.json()
    for absent in ("VpcConfig", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "Tags"):
        assert absent not in body, absent
    assert no_empty_or_null(body) == []
    assert body["PrimaryContainer"] == {"Image": "example.com/echo:1"}
    assert isinstance(body["CreationTime"], float)  # epoch seconds, as the service sends them


def test_nulls_sent_by_hand_are_not_echoed(daemon: Any) -> None:
    name = uniq("nulls")
    request = {
        "ModelName": name,
        "PrimaryContainer": {"Image": "example.com/echo:1", "Environment": None},
        "VpcConfig": None,
        "ExecutionRoleArn": None,
    }
    assert raw_call(daemon, "CreateModel", request).status_code == 200
    body = raw_call(daemon, "DescribeModel", {"ModelName": name}).json()
    assert "VpcConfig" not in body and "ExecutionRoleArn" not in body
    assert no_empty_or_null(body) == []


def test_arn_lowercases_the_name_and_names_keep_their_case(sm: Any) -> None:
    name = uniq("MixedCase-Model")
    assert simple_model(sm, name) == f"{ARN_PREFIX}:model/{name.lower()}"
    assert sm.describe_model(ModelName=name)["ModelName"] == name
    cfg = uniq("MixedCase-Config")
    assert simple_config(sm, cfg, name) == f"{ARN_PREFIX}:endpoint-config/{cfg.lower()}"
    assert sm.describe_endpoint_config(EndpointConfigName=cfg)["EndpointConfigName"] == cfg


def test_model_names_are_unique_ignoring_case(sm: Any) -> None:
    lower = uniq("foo")
    upper = lower.replace("foo", "Foo")
    simple_model(sm, lower)
    with pytest.raises(ClientError) as err:
        simple_model(sm, upper)
    assert error_of(err) == ("ValidationException", f'Cannot create already existing model "{model_arn(upper)}".', 400)
    assert [m["ModelName"] for m in sm.list_models(NameContains=lower)["Models"]] == [lower]


def test_endpoint_config_names_are_unique_ignoring_case(sm: Any) -> None:
    model = uniq("cfg-model")
    simple_model(sm, model)
    lower = uniq("cfg")
    simple_config(sm, lower, model)
    with pytest.raises(ClientError) as err:
        simple_config(sm, lower.upper(), model)
    expected = f'Cannot create already existing endpoint configuration "{config_arn(lower)}".'
    assert error_of(err) == ("ValidationException", expected, 400)


# endpoint configs --------------------------------------------------------------------------------
def test_endpoint_config_lifecycle_and_describe_echoes_every_accepted_field(
    sm: Any, daemon: Any, tmp_path: Path
) -> None:
    model_a, model_b = uniq("ec-model-a"), uniq("ec-model-b")
    simple_model(sm, model_a)
    simple_model(sm, model_b)
    name = uniq("Echo-Config")
    variants = [
        {
            "VariantName": "Blue",
            "ModelName": model_a,
            "InitialInstanceCount": 2,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 3.0,
            "VolumeSizeInGB": 30,
            "ModelDataDownloadTimeoutInSeconds": 600,
            "ContainerStartupHealthCheckTimeoutInSeconds": 120,
            "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
        },
        {"VariantName": "Green", "ModelName": model_b, "InitialInstanceCount": 1, "InstanceType": "ml.c5.xlarge"},
    ]
    data_capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": f"file://{tmp_path}/capture",
        "KmsKeyId": "alias/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    kms = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    created = sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=variants,
        DataCaptureConfig=data_capture,
        KmsKeyId=kms,
        Tags=[{"Key": "stage", "Value": "dev"}],
    )
    assert created["EndpointConfigArn"] == config_arn(name)

    desc = sm.describe_endpoint_config(EndpointConfigName=name)
    assert desc["EndpointConfigName"] == name
    assert desc["EndpointConfigArn"] == config_arn(name)
    assert desc["ProductionVariants"] == variants
    assert desc["DataCaptureConfig"] == data_capture
    assert desc["KmsKeyId"] == kms
    assert isinstance(desc["CreationTime"], dt.datetime)

    listed = sm.list_endpoint_configs(NameContains=name)["EndpointConfigs"]
    assert listed == [
        {"EndpointConfigName": name, "EndpointConfigArn": config_arn(name), "CreationTime": desc["CreationTime"]}
    ]
    sm.delete_endpoint_config(EndpointConfigName=name)
    assert sm.list_endpoint_configs(NameContains=name)["EndpointConfigs"] == []
    with pytest.raises(ClientError) as err:
        sm.describe_endpoint_config(EndpointConfigName=name)
    expected = f'Could not find endpoint configuration "{config_arn(name)}".'
    assert error_of(err) == ("ValidationException", expected, 400)
    # deleting the config leaves its models alone
    assert sm.describe_model(ModelName=model_a)["ModelName"] == model_a


def test_describe_endpoint_config_omits_optional_structures_not_given(sm: Any, daemon: Any) -> None:
    model = uniq("min-cfg-model")
    simple_model(sm, model)
    name = uniq("min-cfg")
    simple_config(sm, name, model)
    body = raw_call(daemon, "DescribeEndpointConfig", {"EndpointConfigName": name}).json()
    for absent in ("DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig", "VpcConfig", "Tags"):
        assert absent not in body, absent
    assert no_empty_or_null(body) == []
    assert body["ProductionVariants"] == [{"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1}]


# tags --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["model", "endpoint-config"])
def test_add_list_delete_tags(sm: Any, kind: str) -> None:
    model = uniq("tag-model")
    arn = simple_model(sm, model, Tags=[{"Key": "created-with", "Value": "create"}])
    name = model
    if kind == "endpoint-config":
        name = uniq("tag-config")
        arn = simple_config(sm, name, model, Tags=[{"Key": "created-with", "Value": "create"}])

    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "created-with", "Value": "create"}]
    added = sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}, {"Key": "cost center", "Value": "42"}])
    assert added["Tags"] == [{"Key": "team", "Value": "ml"}, {"Key": "cost center", "Value": "42"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "platform"}])  # overwrites the value
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {"created-with": "create", "team": "platform", "cost center": "42"}

    sm.delete_tags(ResourceArn=arn, TagKeys=["team", "no-such-key"])
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {"created-with": "create", "cost center": "42"}

    # deleting the resource deletes its tags: a new resource of the same name starts bare
    if kind == "model":
        sm.delete_model(ModelName=name)
        assert simple_model(sm, name) == arn
    else:
        sm.delete_endpoint_config(EndpointConfigName=name)
        assert simple_config(sm, name, model) == arn
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_tags_on_a_missing_resource_are_refused(sm: Any) -> None:
    arn = model_arn(uniq("never-created"))
    for call in (
        lambda: sm.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "b"}]),
        lambda: sm.list_tags(ResourceArn=arn),
        lambda: sm.delete_tags(ResourceArn=arn, TagKeys=["a"]),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert error_of(err) == ("ValidationException", f'Could not find resource "{arn}".', 400)


# listing -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def listed_models(sm: Any) -> tuple[str, list[dict[str, Any]]]:
    """Five models under one unique prefix, created in the order of their names."""
    prefix = uniq("lst")
    names = [f"{prefix}-{letter}" for letter in "abcde"]
    for n in names:
        simple_model(sm, n)
        time.sleep(0.003)  # times have the service's millisecond resolution: keep them distinct
    descs = [sm.describe_model(ModelName=n) for n in names]
    times = [d["CreationTime"] for d in descs]
    assert times == sorted(times) and len(set(times)) == len(times), "creation times must be distinct"
    return prefix, descs


def names_of(resp: dict[str, Any], key: str = "Models", name_key: str = "ModelName") -> list[str]:
    return [m[name_key] for m in resp[key]]


def test_list_models_name_contains_and_default_sort(sm: Any, listed_models: Any) -> None:
    prefix, descs = listed_models
    names = [d["ModelName"] for d in descs]
    # default: CreationTime, Descending
    assert names_of(sm.list_models(NameContains=prefix)) == names[::-1]
    assert names_of(sm.list_models(NameContains=prefix.upper())) == names[::-1]  # case-insensitive
    assert names_of(sm.list_models(NameContains=f"{prefix}-c")) == [names[2]]
    assert sm.list_models(NameContains=uniq("nothing"))["Models"] == []


def test_list_models_sort_by_and_order(sm: Any, listed_models: Any) -> None:
    prefix, descs = listed_models
    names = [d["ModelName"] for d in descs]
    assert names_of(sm.list_models(NameContains=prefix, SortBy="Name", SortOrder="Ascending")) == sorted(names)
    assert names_of(sm.list_models(NameContains=prefix, SortBy="Name", SortOrder="Descending")) == sorted(
        names, reverse=True
    )
    assert names_of(sm.list_models(NameContains=prefix, SortBy="CreationTime", SortOrder="Ascending")) == names


def test_list_models_creation_time_filters(sm: Any, listed_models: Any) -> None:
    prefix, descs = listed_models
    names = [d["ModelName"] for d in descs]
    middle = descs[2]["CreationTime"]  # a datetime as boto3 parsed it, sent back as boto3 serializes it
    after = sm.list_models(NameContains=prefix, CreationTimeAfter=middle, SortOrder="Ascending")
    assert names_of(after) == names[2:]  # "greater than or equal to"
    before = sm.list_models(NameContains=prefix, CreationTimeBefore=middle, SortOrder="Ascending")
    assert names_of(before) == names[:2]
    window = sm.list_models(
        NameContains=prefix,
        CreationTimeAfter=descs[1]["CreationTime"],
        CreationTimeBefore=descs[4]["CreationTime"],
        SortOrder="Ascending",
    )
    assert names_of(window) == names[1:4]


def test_list_models_max_results_and_next_token(sm: Any, listed_models: Any) -> None:
    prefix, descs = listed_models
    names = [d["ModelName"] for d in descs]
    first = sm.list_models(NameContains=prefix, MaxResults=2, SortBy="Name", SortOrder="Ascending")
    assert names_of(first) == names[:2] and first["NextToken"]
    second = sm.list_models(
        NameContains=prefix, MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"]
    )
    assert names_of(second) == names[2:4] and second["NextToken"]
    third = sm.list_models(
        NameContains=prefix, MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=second["NextToken"]
    )
    assert names_of(third) == names[4:] and "NextToken" not in third


def test_list_models_paginator(sm: Any) -> None:
    prefix = uniq("pg")
    names = [f"{prefix}-{i:02d}" for i in range(13)]
    for n in names:
        simple_model(sm, n)
    pages = list(
        sm.get_paginator("list_models").paginate(
            NameContains=prefix, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 5}
        )
    )
    assert [len(p["Models"]) for p in pages] == [5, 5, 3]
    assert [m["ModelName"] for p in pages for m in p["Models"]] == names
    # MaxItems stops early and hands back a resumable token
    limited = sm.get_paginator("list_models").paginate(
        NameContains=prefix, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 5, "MaxItems": 7}
    )
    result = limited.build_full_result()
    assert [m["ModelName"] for m in result["Models"]] == names[:7]
    assert result["NextToken"]


def test_list_endpoint_configs_filters_sort_and_paginator(sm: Any) -> None:
    model = uniq("lec-model")
    simple_model(sm, model)
    prefix = uniq("lec")
    names = [f"{prefix}-{i:02d}" for i in range(12)]
    for n in names:
        simple_config(sm, n, model)
        time.sleep(0.003)
    descs = [sm.describe_endpoint_config(EndpointConfigName=n) for n in names]
    assert len({d["CreationTime"] for d in descs}) == len(descs)

    def cfg_names(resp: dict[str, Any]) -> list[str]:
        return names_of(resp, "EndpointConfigs", "EndpointConfigName")

    assert cfg_names(sm.list_endpoint_configs(NameContains=prefix, MaxResults=100)) == names[::-1]
    assert cfg_names(sm.list_endpoint_configs(NameContains=prefix, SortBy="Name", SortOrder="Descending"))[:3] == [
        names[11],
        names[10],
        names[9],
    ]
    after = sm.list_endpoint_configs(
        NameContains=prefix, CreationTimeAfter=descs[9]["CreationTime"], SortOrder="Ascending"
    )
    assert cfg_names(after) == names[9:]
    before = sm.list_endpoint_configs(
        NameContains=prefix, CreationTimeBefore=descs[2]["CreationTime"], SortOrder="Ascending"
    )
    assert cfg_names(before) == names[:2]
    pages = list(
        sm.get_paginator("list_endpoint_configs").paginate(
            NameContains=prefix, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 5}
        )
    )
    assert [len(p["EndpointConfigs"]) for p in pages] == [5, 5, 2]
    assert [c["EndpointConfigName"] for p in pages for c in p["EndpointConfigs"]] == names


def test_list_default_page_size_is_bounded(sm: Any) -> None:
    prefix = uniq("dflt")
    for i in range(11):
        simple_model(sm, f"{prefix}-{i:02d}")
    first = sm.list_models(NameContains=prefix)
    assert len(first["Models"]) == 10 and first["NextToken"]


@pytest.mark.parametrize("operation", ["list_models", "list_endpoint_configs"])
@pytest.mark.parametrize("token", ["garbage", "e30=", "eyJvZmZzZXQiOiAtNX0=", "!!!not-base64!!!"])
def test_garbage_next_token_is_a_validation_error(sm: Any, operation: str, token: str) -> None:
    with pytest.raises(ClientError) as err:
        getattr(sm, operation)(NextToken=token)
    code, message, status = error_of(err)
    assert (code, status) == ("ValidationException", 400)
    assert message == "Invalid pagination token: NextToken does not come from a previous call."


# the wire edge -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    ["SageMaker.CreateModelz", "SageMaker.describe_model", "Other.CreateModel", "SageMaker", ""],
    ids=["misspelt", "snake-case", "other-service", "no-operation", "empty"],
)
def test_unknown_operation_gets_a_clear_error(daemon: Any, target: str) -> None:
    resp = raw_call(daemon, "", {}, target=target)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith(JSON_11)
    assert resp.headers.get("x-amzn-RequestId")
    body = resp.json()
    assert body["__type"] == "UnknownOperationException"
    assert body["message"].startswith(f"Operation {target or '(none)'} is not supported by inferpipe.")
    assert "CreateModel" in body["message"] and "ListEndpointConfigs" in body["message"]


def test_missing_target_header_is_an_unknown_operation(daemon: Any) -> None:
    resp = httpx.post(daemon.url + "/", content=b"{}", headers={"Content-Type": JSON_11}, timeout=10, auth=daemon.auth)
    assert resp.status_code == 400
    assert resp.json()["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"a string"'], ids=["broken", "array", "string"])
def test_a_body_that_is_not_a_json_object_is_refused(daemon: Any, body: bytes) -> None:
    resp = raw_call(daemon, "ListModels", body)
    assert resp.status_code == 400
    assert resp.json()["__type"] == "SerializationException"


def test_empty_body_means_no_parameters(daemon: Any) -> None:
    resp = raw_call(daemon, "ListModels", b"")
    assert resp.status_code == 200
    assert isinstance(resp.json()["Models"], list)
