"""core/s3 against a real S3 HTTP endpoint (moto's server, with IAM enforcement on)."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from inferpipe.core.config import Settings
from inferpipe.core.s3.client import s3_client, s3_objects
from inferpipe.core.s3.errors import S3Error
from inferpipe.core.s3.objects import MIN_PART_SIZE, S3Objects
from inferpipe.core.s3.uri import parse_s3_uri


def _settings(tmp_path: Path, s3_server: Any, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "home": tmp_path,
        "s3_endpoint_url": s3_server.url,
        "s3_access_key_id": s3_server.daemon.access_key_id,
        "s3_secret_access_key": s3_server.daemon.secret_access_key,
        "s3_part_size": MIN_PART_SIZE,
    }
    fields.update(overrides)
    return Settings(**fields)


@pytest.fixture
def objects(tmp_path: Path, s3_server: Any) -> S3Objects:
    return s3_objects(_settings(tmp_path, s3_server))


@pytest.fixture
def bucket(s3_server: Any) -> str:
    return s3_server.bucket(f"it-{uuid.uuid4().hex[:12]}")


def test_streams_an_object_with_its_etag(objects: S3Objects, s3_server: Any, bucket: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    s3_server.put(f"s3://{bucket}/models/m.tar.gz", data)
    uri = parse_s3_uri(f"s3://{bucket}/models/m.tar.gz")
    head = objects.head(uri)
    assert head.size == len(data) and head.etag and '"' not in head.etag
    seen: list[int] = []
    out = io.BytesIO()
    info = objects.download(uri, out, progress=seen.append)
    assert out.getvalue() == data
    assert info.etag == head.etag and info.identity == f"etag={head.etag}"
    assert seen[-1] == len(data) and len(seen) >= 3  # chunk by chunk, not one read


def test_version_id_is_the_identity_when_versioning_is_on(objects: S3Objects, s3_server: Any, bucket: str) -> None:
    s3_server.client().put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3_server.put(f"s3://{bucket}/v", b"one")
    info = objects.head(parse_s3_uri(f"s3://{bucket}/v"))
    assert info.version_id and info.identity == f"version={info.version_id}"


@pytest.mark.parametrize("head", [False, True])
def test_errors_carry_s3_code_and_uri(objects: S3Objects, s3_server: Any, bucket: str, head: bool) -> None:
    s3_server.put(f"s3://{bucket}/forbidden/m.tar.gz", b"secret")
    cases = {
        f"s3://{bucket}/missing.tar.gz": "NoSuchKey",
        "s3://no-such-bucket-here/m.tar.gz": "NoSuchBucket",
        f"s3://{bucket}/forbidden/m.tar.gz": "AccessDenied",
    }
    for text, code in cases.items():
        uri = parse_s3_uri(text)
        with pytest.raises(S3Error) as caught:
            if head:
                objects.head(uri)
            else:
                objects.iter_object(uri)
        assert caught.value.code == code and caught.value.uri == text
        assert text in caught.value.reason and code in caught.value.reason


def test_lists_every_key_under_a_prefix_across_pages(objects: S3Objects, s3_server: Any, bucket: str) -> None:
    keys = [f"data/part-{i}.csv" for i in range(5)] + ["data/sub/x.csv"]
    for key in [*keys, "other/y.csv", "datum.csv"]:
        s3_server.put(f"s3://{bucket}/{key}", key.encode())
    listed = list(objects.list_prefix(parse_s3_uri(f"s3://{bucket}/data/"), page_size=2))
    assert [str(i.uri) for i in listed] == [f"s3://{bucket}/{k}" for k in sorted(keys)]
    assert all(i.size == len(str(i.uri).split("/", 3)[3]) for i in listed)


def test_multipart_upload_streams_parts_and_completes(objects: S3Objects, s3_server: Any, bucket: str) -> None:
    data = os.urandom(2 * MIN_PART_SIZE + 12345)
    uri = parse_s3_uri(f"s3://{bucket}/out/big.out")
    with objects.writer(uri) as w:
        for i in range(0, len(data), 1024 * 1024):
            w.write(data[i : i + 1024 * 1024])
            assert len(w._buffer) < MIN_PART_SIZE  # at most one part held in memory
    assert s3_server.get(str(uri)) == data
    parts = s3_server.client().head_object(Bucket=bucket, Key="out/big.out", PartNumber=1)
    assert parts.get("PartsCount") == 3


def test_small_object_is_one_put(objects: S3Objects, s3_server: Any, bucket: str) -> None:
    uri = parse_s3_uri(f"s3://{bucket}/out/small.out")
    with objects.writer(uri) as w:
        w.write(b"a,b\n")
    assert s3_server.get(str(uri)) == b"a,b\n"
    with objects.writer(uri.child("out/empty.out")):
        pass
    assert s3_server.get(f"s3://{bucket}/out/empty.out") == b""


def test_failure_aborts_the_upload_and_writes_nothing(objects: S3Objects, s3_server: Any, bucket: str) -> None:
    uri = parse_s3_uri(f"s3://{bucket}/out/failed.out")
    with pytest.raises(RuntimeError), objects.writer(uri) as w:
        w.write(os.urandom(MIN_PART_SIZE + 1))  # one part already uploaded
        raise RuntimeError("the input file failed")
    admin = s3_server.client()
    assert admin.list_objects_v2(Bucket=bucket, Prefix="out/failed").get("KeyCount") == 0
    assert not admin.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_unwritable_destination_raises_access_denied(objects: S3Objects, bucket: str) -> None:
    with pytest.raises(S3Error) as caught, objects.writer(parse_s3_uri(f"s3://{bucket}/forbidden/x.out")) as w:
        w.write(b"x")
    assert caught.value.code == "AccessDenied"
    with pytest.raises(S3Error) as caught, objects.writer(parse_s3_uri("s3://no-such-bucket-here/x.out")) as w:
        w.write(os.urandom(MIN_PART_SIZE))
    assert caught.value.code == "NoSuchBucket"


def test_standard_aws_environment_alone_reaches_the_endpoint(
    tmp_path: Path, s3_server: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_server.put(f"s3://{bucket}/k", b"from env")
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name, value in s3_server.aws_env(s3_server.daemon).items():
        monkeypatch.setenv(name, value)
    objects = S3Objects(s3_client(Settings(home=tmp_path)))
    assert objects.head(parse_s3_uri(f"s3://{bucket}/k")).size == len(b"from env")


def test_inferpipe_profile_is_read_from_the_shared_files(
    tmp_path: Path, s3_server: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_server.put(f"s3://{bucket}/k", b"from a profile")
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    config = tmp_path / "config"
    config.write_text(
        f"[profile inferpipe-s3]\nregion = us-east-1\nendpoint_url = {s3_server.url}\n"
        f"aws_access_key_id = {s3_server.daemon.access_key_id}\n"
        f"aws_secret_access_key = {s3_server.daemon.secret_access_key}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    objects = S3Objects(s3_client(Settings(home=tmp_path, s3_profile="inferpipe-s3")))
    info, chunks = objects.iter_object(parse_s3_uri(f"s3://{bucket}/k"))
    assert b"".join(chunks) == b"from a profile" and info.size == 14


def test_an_endpoint_that_is_down_is_named_in_the_error(tmp_path: Path, s3_server: Any) -> None:
    from inferpipe_testing.daemon import free_port

    down = f"http://127.0.0.1:{free_port()}"
    objects = s3_objects(_settings(tmp_path, s3_server, s3_endpoint_url=down, s3_connect_timeout=1.0))
    with pytest.raises(S3Error) as caught:
        objects.head(parse_s3_uri("s3://any-bucket/k"))
    assert caught.value.code == "EndpointConnectionError" and down in str(caught.value)
    assert "Check the S3 endpoint is up" in caught.value.reason
