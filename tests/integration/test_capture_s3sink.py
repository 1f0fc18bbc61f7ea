"""The S3 capture sink against moto's server: a file larger than a part is uploaded as a multipart
object with every byte in order, nothing is visible before `finish`, and a denied upload leaves no
object and no upload behind."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from inferpipe.core.capture.s3sink import S3Sink
from inferpipe.core.config import Settings
from inferpipe.core.s3.client import s3_objects
from inferpipe.core.s3.errors import S3Error
from inferpipe.core.s3.objects import MIN_PART_SIZE, S3Objects
from inferpipe.core.s3.uri import S3Uri


@pytest.fixture
def objects(tmp_path: Path, s3_server: Any) -> S3Objects:
    return s3_objects(
        Settings(
            home=tmp_path,
            s3_endpoint_url=s3_server.url,
            s3_access_key_id=s3_server.daemon.access_key_id,
            s3_secret_access_key=s3_server.daemon.secret_access_key,
            s3_part_size=MIN_PART_SIZE,
        )
    )


def test_a_large_file_is_uploaded_whole_on_finish(objects: S3Objects, s3_server: Any) -> None:
    bucket = s3_server.bucket(f"cap-{uuid.uuid4().hex[:12]}")
    built = []
    sink = S3Sink(lambda: built.append(1) or objects, S3Uri(bucket, "capture/"))
    key = "ep/AllTraffic/2026/12/03/17/00-00-000-x.jsonl"
    pieces = [os.urandom(1024 * 1024) for _ in range(2 * MIN_PART_SIZE // (1024 * 1024) + 1)]  # 11 MiB: 3 parts
    for piece in pieces:
        sink.append(key, piece)
    s3 = s3_server.client()
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0 and not built, "nothing before finish"
    sink.finish(key)
    got = s3.get_object(Bucket=bucket, Key=f"capture/{key}")
    assert got["Body"].read() == b"".join(pieces)
    assert got["ETag"].strip('"').endswith("-3"), "a multipart object of three parts"
    assert built == [1]
    sink.finish(key)  # finishing twice is harmless


def test_a_denied_upload_leaves_nothing(objects: S3Objects, s3_server: Any) -> None:
    bucket = s3_server.bucket(f"cap-{uuid.uuid4().hex[:12]}")
    sink = S3Sink(objects, S3Uri(bucket, "forbidden/capture"))
    key = "ep/v/2026/12/03/17/x.jsonl"
    sink.append(key, os.urandom(MIN_PART_SIZE + 10))
    with pytest.raises(S3Error) as err:
        sink.finish(key)
    assert err.value.code == "AccessDenied"
    s3 = s3_server.client()
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
