"""Data capture to s3:// against moto's standalone server (real HTTP, real IAM denial): an endpoint's
capture files uploaded in SageMaker's key layout and read back with the SageMaker SDK v2's own S3
reader, an unwritable destination costing records (counted) and never a request, and a transform
job's capture manifests listing the s3:// URIs of its data."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from helpers import echo_containers, teardown, unique
from support import DaemonHandle, cleanup, make_daemon, wait_endpoint

TIMEOUT = 60
HEADER = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}


@pytest.fixture(scope="module")
def capd(s3_server: Any) -> Iterator[DaemonHandle]:
    """A daemon whose S3 is the moto server; capture files uploaded a second after they open."""
    d = make_daemon(**s3_server.daemon_env(), INFERPIPE_CAPTURE_S3_FILE_SECONDS="1")
    d.start()
    yield d
    cleanup(d)


@pytest.fixture(scope="module")
def csm(capd: DaemonHandle) -> Any:
    return capd.client("sagemaker")


@pytest.fixture(scope="module")
def crt(capd: DaemonHandle) -> Any:
    return capd.client("sagemaker-runtime")


def sdk_session(capd: DaemonHandle, s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """sagemaker.Session whose boto session reaches the moto server (AWS_ENDPOINT_URL_S3)."""
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sagemaker
    boto_session = boto3.Session(region_name=capd.credentials.region, **s3_server.admin.boto())
    return sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=capd.client("sagemaker"),
        sagemaker_runtime_client=capd.client("sagemaker-runtime"),
    )


def sdk_capture_config(destination: str, session: Any) -> dict[str, Any]:
    """The DataCaptureConfig the SDK's own model_monitor.DataCaptureConfig sends."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sagemaker.model_monitor import DataCaptureConfig

    config = DataCaptureConfig(
        enable_capture=True,
        sampling_percentage=100,
        destination_s3_uri=destination,
        csv_content_types=HEADER["CsvContentTypes"],
        json_content_types=HEADER["JsonContentTypes"],
        sagemaker_session=session,
    )
    return config._to_request_dict()


def deploy(sm: Any, name: str, image: str, capture: dict[str, Any]) -> None:
    sm.create_model(ModelName=name, Containers=echo_containers(image, 2))
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
        DataCaptureConfig=capture,
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_endpoint(sm, name, "InService", timeout=120)


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def metric(d: DaemonHandle, name: str, metric_name: str) -> float:
    found = [m for m in d.cli_json("metrics", "--endpoint-name", name)["Metrics"] if m["MetricName"] == metric_name]
    return found[0]["Sum"] if found else 0


def eventually(check: Any, what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while not (got := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.25)
    return got


def test_endpoint_capture_to_s3_read_with_the_sdk(
    s3_server: Any, capd: DaemonHandle, csm: Any, crt: Any, echo_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.bucket(unique("cap"))
    name = unique("cap-s3")
    session = sdk_session(capd, s3_server, monkeypatch)
    deploy(csm, name, echo_image, sdk_capture_config(f"s3://{bucket}/datacapture", session))
    try:
        before = dt.datetime.now(dt.UTC)
        sent = {}
        for i in range(5):
            body = f"{i},2.5,x".encode()
            r = crt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv", InferenceId=f"req-{i}")
            assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
            sent[f"req-{i}"] = (body, r["Body"].read())
        binary = bytes(range(256)) * 3
        r = crt.invoke_endpoint(EndpointName=name, Body=binary, ContentType="application/x-npy", InferenceId="bin")
        sent["bin"] = (binary, r["Body"].read())
        after = dt.datetime.now(dt.UTC)
        s3 = s3_server.client()
        eventually(lambda: metric(capd, name, "CapturedRecords") == 6, "6 records uploaded")

        # SageMaker's key layout: {prefix}/{endpoint}/{variant}/yyyy/mm/dd/hh/{file}.jsonl
        found = keys(s3, bucket)
        hours = {f"{t:%Y/%m/%d/%H}" for t in (before, after)}
        assert found
        for key in found:
            m = re.fullmatch(rf"datacapture/{name}/AllTraffic/(\d{{4}}/\d\d/\d\d/\d\d)/[\w-]+\.jsonl", key)
            assert m and m.group(1) in hours, key
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")

        # read back as the SDK's documentation does: S3Downloader.list, then read_file
        from sagemaker.s3 import S3Downloader

        files = S3Downloader.list(f"s3://{bucket}/datacapture/{name}", sagemaker_session=session)
        assert sorted(files) == [f"s3://{bucket}/{k}" for k in found]
        lines = [json.loads(x) for f in files for x in S3Downloader.read_file(f, session).splitlines() if x]
        by_id = {x["eventMetadata"]["inferenceId"]: x for x in lines}
        assert len(lines) == 6 and set(by_id) == set(sent)
        for inference_id, (body, answer) in sent.items():
            data = by_id[inference_id]["captureData"]
            inp, out = data["endpointInput"], data["endpointOutput"]
            assert by_id[inference_id]["eventVersion"] == "0"
            if inference_id == "bin":
                assert inp["encoding"] == out["encoding"] == "BASE64"
                assert base64.b64decode(inp["data"]) == body and base64.b64decode(out["data"]) == answer
            else:
                assert inp == {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": body.decode(),
                    "encoding": "CSV",
                }
                assert out["mode"] == "OUTPUT" and out["data"] == answer.decode()
        assert metric(capd, name, "CaptureDroppedRecords") == 0
    finally:
        teardown(csm, name)


def test_an_unwritable_s3_destination_costs_records_never_requests(
    s3_server: Any, capd: DaemonHandle, csm: Any, crt: Any, echo_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's S3 user is denied every key under forbidden/: each upload fails with S3's real
    AccessDenied, its records are counted as dropped, every request answers 200."""
    bucket = s3_server.bucket(unique("cap-deny"))
    name = unique("cap-deny")
    session = sdk_session(capd, s3_server, monkeypatch)
    deploy(csm, name, echo_image, sdk_capture_config(f"s3://{bucket}/forbidden/capture", session))
    try:
        for i in range(20):
            r = crt.invoke_endpoint(EndpointName=name, Body=f"{i},1".encode(), ContentType="text/csv")
            assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
            r["Body"].read()
        eventually(lambda: metric(capd, name, "CaptureDroppedRecords") == 20, "20 records counted as dropped")
        assert metric(capd, name, "CapturedRecords") == 0
        s3 = s3_server.client()
        assert keys(s3, bucket) == []
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
        assert csm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    finally:
        teardown(csm, name)


def finished(sm: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        desc = sm.describe_transform_job(TransformJobName=name)
        if desc["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc
        assert time.monotonic() < deadline, f"{name} still {desc['TransformJobStatus']}"
        time.sleep(0.25)


def transform(sm: Any, model: str, source: str, output: str, data_type: str = "S3Prefix", **extra: Any) -> str:
    name = unique("cap-s3tx")
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": source}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": output, "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    )
    return name


def test_transform_job_capture_to_s3_lists_s3_uris(
    s3_server: Any, capd: DaemonHandle, csm: Any, echo_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = unique("cap-s3tx")
    csm.create_model(ModelName=model, Containers=echo_containers(echo_image, 2))
    bucket = s3_server.bucket(unique("cap-tx"))
    for key in ("in/a.csv", "in/sub/b.csv"):
        s3_server.put(f"s3://{bucket}/{key}", b"1,2\n3,4\n")
    before = dt.datetime.now(dt.UTC)
    # started as the SDK starts it: Transformer.transform with its BatchDataCaptureConfig
    session = sdk_session(capd, s3_server, monkeypatch)
    from sagemaker.inputs import BatchDataCaptureConfig
    from sagemaker.transformer import Transformer

    name = unique("cap-s3tx")
    Transformer(
        model_name=model,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{bucket}/out",
        assemble_with="Line",
        sagemaker_session=session,
    ).transform(
        f"s3://{bucket}/in/",
        content_type="text/csv",
        split_type="Line",
        job_name=name,
        batch_data_capture_config=BatchDataCaptureConfig(
            destination_s3_uri=f"s3://{bucket}/capture", generate_inference_id=True
        ),
        wait=False,
    )
    capture = {"DestinationS3Uri": f"s3://{bucket}/capture", "GenerateInferenceId": True}
    desc = finished(csm, name)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["DataCaptureConfig"] == capture
    s3 = s3_server.client()
    hours = {f"{t:%Y/%m/%d/%H}" for t in (before, dt.datetime.now(dt.UTC))}
    manifests = {}
    for kind, prefix, listed in (
        ("input", f"s3://{bucket}/in/", ["a.csv", "sub/b.csv"]),
        ("output", f"s3://{bucket}/out/", ["a.csv.out", "sub/b.csv.out"]),
    ):
        [key] = keys(s3, bucket, f"capture/{kind}/")
        assert re.fullmatch(rf"capture/{kind}/(\d{{4}}/\d\d/\d\d/\d\d)/[0-9a-f-]{{36}}\.jsonl", key)
        assert key.split("/")[2:6] and "/".join(key.split("/")[2:6]) in hours
        doc = json.loads(s3_server.get(f"s3://{bucket}/{key}"))
        assert doc == [{"prefix": prefix}, *listed]  # the ManifestFile format, with s3:// URIs
        for k in doc[1:]:
            s3_server.get(doc[0]["prefix"] + k)  # each entry names an object that exists
        manifests[kind] = f"s3://{bucket}/{key}"

    # the input manifest is a ManifestFile a new job reads: the same data, transformed again
    again = transform(csm, model, manifests["input"], f"s3://{bucket}/again/", data_type="ManifestFile")
    assert finished(csm, again)["TransformJobStatus"] == "Completed"
    assert keys(s3, bucket, "again/") == ["again/a.csv.out", "again/sub/b.csv.out"]

    # a destination the daemon may not write fails the job with S3's reason
    denied = transform(
        csm,
        model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/out3",
        DataCaptureConfig={"DestinationS3Uri": f"s3://{bucket}/forbidden/capture"},
    )
    desc = finished(csm, denied)
    assert desc["TransformJobStatus"] == "Failed"
    assert "AccessDenied" in desc["FailureReason"] and "forbidden/capture" in desc["FailureReason"]
    assert keys(s3, bucket, "forbidden/") == []
