"""Batch transform on S3, against moto's standalone server (real HTTP, real IAM denial): S3Prefix and
ManifestFile inputs, gzip, outputs as `<key>.out` by multipart upload, a failed file leaving no
object and no upload behind, and an output that cannot be written failing the job before any
container starts."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import unique
from support import DaemonHandle, cleanup, make_daemon

TIMEOUT = 120


@pytest.fixture(scope="module")
def s3d(s3_server: Any) -> Iterator[DaemonHandle]:
    """A daemon whose S3 is the moto server; 5 MiB parts so a few MiB of output is a real multipart upload."""
    d = make_daemon(**s3_server.daemon_env(), INFERPIPE_S3_PART_SIZE="5m")
    d.start()
    yield d
    cleanup(d)


@pytest.fixture(scope="module")
def s3sm(s3d: DaemonHandle) -> Any:
    return s3d.client("sagemaker")


@pytest.fixture(scope="module")
def raw_model(s3sm: Any, echo_image: str) -> str:
    """Two echo containers answering every body unchanged (FAIL:container-1:400 in a record fails it)."""
    name = unique("s3tx")
    s3sm.create_model(
        ModelName=name,
        Containers=[{"Image": echo_image, "Environment": {"ECHO_RAW": "1"}} for _ in range(2)],
    )
    return name


def transform(sm: Any, model: str, source: str, output: str, **extra: Any) -> str:
    name = unique("s3tx")
    data_type = extra.pop("data_type", "S3Prefix")
    tin: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": source}},
        "ContentType": "text/csv",
        "SplitType": "Line",
    }
    if "compression" in extra:
        tin["CompressionType"] = extra.pop("compression")
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput=tin,
        TransformOutput={"S3OutputPath": output, "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    )
    return name


def finished(sm: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        desc = sm.describe_transform_job(TransformJobName=name)
        if desc["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc
        assert time.monotonic() < deadline, f"{name} still {desc['TransformJobStatus']}"
        time.sleep(0.25)


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def rows(n: int, tag: str) -> bytes:
    return "".join(f"{tag}-{i},{'v' * (i % 13)}\n" for i in range(n)).encode()


def test_prefix_and_gzip_to_s3_in_aws_key_layout(s3_server: Any, s3sm: Any, s3d: DaemonHandle, raw_model: str) -> None:
    bucket = s3_server.bucket(unique("in"))
    out_bucket = s3_server.bucket(unique("out"))
    a, b, c = rows(500, "a"), rows(300, "b"), rows(10, "c")
    s3_server.put(f"s3://{bucket}/data/part-1.csv.gz", gzip.compress(a))
    s3_server.put(f"s3://{bucket}/data/sub/part-2.csv.gz", gzip.compress(b))
    s3_server.put(f"s3://{bucket}/data-other/x.csv.gz", gzip.compress(c))  # outside the prefix data/
    s3_server.put(f"s3://{bucket}/data/", b"")  # a console folder marker: not an input

    name = transform(s3sm, raw_model, f"s3://{bucket}/data/", f"s3://{out_bucket}/results", compression="Gzip")
    desc = finished(s3sm, name)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    s3 = s3_server.client()
    assert keys(s3, out_bucket) == ["results/part-1.csv.gz.out", "results/sub/part-2.csv.gz.out"]
    assert s3_server.get(f"s3://{out_bucket}/results/part-1.csv.gz.out") == a
    assert s3_server.get(f"s3://{out_bucket}/results/sub/part-2.csv.gz.out") == b
    assert not s3.list_multipart_uploads(Bucket=out_bucket).get("Uploads")
    raw = s3d.raw_call("SageMaker.DescribeTransformJob", json.dumps({"TransformJobName": name}).encode()).json()
    progress = raw["InferpipeProgress"]
    assert progress["FilesCompleted"] == 2 and progress["RecordsProcessed"] == 800

    # a key prefix, as on S3: s3://bucket/data/part- matches data/part-1.csv.gz only, named part-1.csv.gz
    name = transform(s3sm, raw_model, f"s3://{bucket}/data/part-", f"s3://{out_bucket}/kp/", compression="Gzip")
    assert finished(s3sm, name)["TransformJobStatus"] == "Completed"
    assert keys(s3, out_bucket, "kp/") == ["kp/part-1.csv.gz.out"]


def test_manifest_file_on_s3(s3_server: Any, s3sm: Any, raw_model: str) -> None:
    bucket = s3_server.bucket(unique("man"))
    a, b = rows(50, "a"), rows(70, "b")
    s3_server.put(f"s3://{bucket}/data/a.csv", a)
    s3_server.put(f"s3://{bucket}/data/deep/b.csv", b)
    s3_server.put(f"s3://{bucket}/data/not-listed.csv", b"x\n")
    manifest = [{"prefix": f"s3://{bucket}/data/"}, "a.csv", "deep/b.csv"]
    s3_server.put(f"s3://{bucket}/manifests/m.json", json.dumps(manifest).encode())

    name = transform(
        s3sm, raw_model, f"s3://{bucket}/manifests/m.json", f"s3://{bucket}/out/", data_type="ManifestFile"
    )
    desc = finished(s3sm, name)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    assert keys(s3_server.client(), bucket, "out/") == ["out/a.csv.out", "out/deep/b.csv.out"]
    assert s3_server.get(f"s3://{bucket}/out/deep/b.csv.out") == b

    # a listed key that is missing fails the job, naming the key and S3's code
    s3_server.put(f"s3://{bucket}/manifests/bad.json", json.dumps([*manifest, "gone.csv"]).encode())
    name = transform(
        s3sm, raw_model, f"s3://{bucket}/manifests/bad.json", f"s3://{bucket}/out2/", data_type="ManifestFile"
    )
    desc = finished(s3sm, name)
    assert desc["TransformJobStatus"] == "Failed"
    assert "gone.csv" in desc["FailureReason"] and "NoSuchKey" in desc["FailureReason"]
    assert keys(s3_server.client(), bucket, "out2/") == []


def test_a_failed_file_leaves_no_object_and_no_upload(s3_server: Any, s3sm: Any, raw_model: str) -> None:
    """7 MiB of good records (more than one 5 MiB part is uploaded) and then one the model refuses: the
    upload is aborted, so neither the object nor its parts remain; the good file's output is there."""
    bucket = s3_server.bucket(unique("fail"))
    good = rows(2000, "g")
    bad = b"".join(b"b-%d,%s\n" % (i, b"v" * 64) for i in range(110_000)) + b"FAIL:container-1:400\n"
    assert len(bad) > 7 * 1024 * 1024
    s3_server.put(f"s3://{bucket}/in/good.csv", good)
    s3_server.put(f"s3://{bucket}/in/bad.csv", bad)
    name = transform(
        s3sm,
        raw_model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/out/",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        MaxConcurrentTransforms=1,
    )
    desc = finished(s3sm, name)
    assert desc["TransformJobStatus"] == "Failed"
    assert "bad.csv" in desc["FailureReason"] and "400" in desc["FailureReason"]
    s3 = s3_server.client()
    assert keys(s3, bucket, "out/") == ["out/good.csv.out"]
    assert s3_server.get(f"s3://{bucket}/out/good.csv.out") == good
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


@pytest.mark.parametrize(
    ("output", "code"),
    [("s3://inferpipe-no-such-bucket/out/", "NoSuchBucket"), ("s3://{bucket}/forbidden/out/", "AccessDenied")],
)
def test_an_unwritable_output_fails_the_job_before_any_container(
    s3_server: Any, s3sm: Any, s3d: DaemonHandle, raw_model: str, output: str, code: str
) -> None:
    bucket = s3_server.bucket(unique("unw"))
    s3_server.put(f"s3://{bucket}/in/a.csv", rows(10, "a"))
    name = transform(s3sm, raw_model, f"s3://{bucket}/in/", output.format(bucket=bucket))
    desc = finished(s3sm, name)
    assert desc["TransformJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert reason.startswith("ClientError: The output path") and code in reason, reason
    assert output.format(bucket=bucket).rstrip("/") in reason
    # the job failed before its fleet: no container was ever labelled with it
    assert not s3d.containers_of(name)
    assert not s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_a_bad_s3_uri_is_refused_at_create(s3sm: Any, raw_model: str) -> None:
    with pytest.raises(s3sm.exceptions.ClientError) as err:
        transform(s3sm, raw_model, "s3://Bad_Bucket/in/", "s3://fine-bucket/out/")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "S3Uri" in err.value.response["Error"]["Message"]
