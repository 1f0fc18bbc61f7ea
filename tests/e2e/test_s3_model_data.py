"""Model data on a real S3 endpoint (moto's server): ModelDataUrl s3://…/model.tar.gz, and
ModelDataSource.S3DataSource as S3Prefix and as an uncompressed S3Object, each laid out under
/opt/ml/model as AWS lays it; a missing and a forbidden object fail the endpoint naming the URI
and S3's error code, and start no container."""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import echo_containers, teardown, unique
from support import DaemonHandle, cleanup, make_daemon, wait_endpoint


@pytest.fixture(scope="module")
def s3_daemon(s3_server: Any) -> Iterator[DaemonHandle]:
    d = make_daemon(**s3_server.daemon_env())
    d.start()
    yield d
    cleanup(d)


@pytest.fixture(scope="module")
def bucket(s3_server: Any) -> str:
    return s3_server.bucket(f"models-{uuid.uuid4().hex[:10]}")


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _source(uri: str, data_type: str, compression: str) -> dict[str, Any]:
    source = {"S3Uri": uri, "S3DataType": data_type, "CompressionType": compression}
    return {"ModelDataSource": {"S3DataSource": source}}


def _deploy(daemon: DaemonHandle, name: str, image: str, data: dict[str, Any], status: str) -> dict[str, Any]:
    sm = daemon.client("sagemaker")
    containers = echo_containers(image, 2)
    containers[0].update(data)
    sm.create_model(ModelName=name, Containers=containers)
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1}],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return wait_endpoint(sm, name, status, timeout=120)


def _model_files(daemon: DaemonHandle, name: str) -> dict[str, str]:
    cid = daemon.containers_of(name, "container-1")[0]
    listing = subprocess.run(
        ["docker", "exec", cid, "find", "/opt/ml/model", "-type", "f"], capture_output=True, text=True, check=True
    ).stdout.split()
    return {
        path.removeprefix("/opt/ml/model/"): subprocess.run(
            ["docker", "exec", cid, "cat", path], capture_output=True, text=True, check=True
        ).stdout
        for path in listing
    }


@pytest.mark.parametrize("form", ["ModelDataUrl", "S3Object-Gzip", "S3Prefix", "S3Object-None"])
def test_model_data_from_s3_is_laid_out_as_on_aws(
    s3_daemon: DaemonHandle, s3_server: Any, bucket: str, echo_image: str, form: str
) -> None:
    run = uuid.uuid4().hex[:8]
    tarball = _tarball({"weights.txt": b"w1", "sub/vocab.txt": b"v1"})
    if form in ("ModelDataUrl", "S3Object-Gzip"):
        uri = s3_server.put(f"s3://{bucket}/{run}/model.tar.gz", tarball)
        data: dict[str, Any] = {"ModelDataUrl": uri} if form == "ModelDataUrl" else _source(uri, "S3Object", "Gzip")
        expected = {"weights.txt": "w1", "sub/vocab.txt": "v1"}
    elif form == "S3Prefix":
        for key, body in {"a.txt": b"A", "deep/er/b.txt": b"B"}.items():
            s3_server.put(f"s3://{bucket}/{run}/model/{key}", body)
        s3_server.put(f"s3://{bucket}/{run}/model-other/c.txt", b"not under the prefix")
        uri = f"s3://{bucket}/{run}/model/"
        data = _source(uri, "S3Prefix", "None")
        expected = {"a.txt": "A", "deep/er/b.txt": "B"}
    else:
        uri = s3_server.put(f"s3://{bucket}/{run}/weights/model.bin", b"raw weights")
        data = _source(uri, "S3Object", "None")
        expected = {"model.bin": "raw weights"}
    name = unique("s3md")
    try:
        _deploy(s3_daemon, name, echo_image, data, "InService")
        assert _model_files(s3_daemon, name) == expected
        rt = s3_daemon.client("sagemaker-runtime")
        assert rt.invoke_endpoint(EndpointName=name, Body=b"hi", ContentType="text/plain")["Body"].read()
    finally:
        teardown(s3_daemon.client("sagemaker"), name)


@pytest.mark.parametrize(
    ("where", "code"),
    [("missing.tar.gz", "NoSuchKey"), ("forbidden/model.tar.gz", "AccessDenied"), (None, "NoSuchBucket")],
)
def test_unreadable_model_data_fails_the_endpoint_naming_uri_and_code(
    s3_daemon: DaemonHandle, s3_server: Any, bucket: str, echo_image: str, where: str | None, code: str
) -> None:
    s3_server.put(f"s3://{bucket}/forbidden/model.tar.gz", _tarball({"x": b"x"}))  # exists, but denied
    uri = f"s3://{bucket}/{where}" if where else "s3://no-such-bucket-anywhere/model.tar.gz"
    name = unique("s3bad")
    try:
        desc = _deploy(s3_daemon, name, echo_image, {"ModelDataUrl": uri}, "Failed")
        assert uri in desc["FailureReason"] and code in desc["FailureReason"], desc["FailureReason"]
        assert not s3_daemon.containers_of(name)
    finally:
        teardown(s3_daemon.client("sagemaker"), name)
