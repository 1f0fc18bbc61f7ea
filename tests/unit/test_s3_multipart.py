"""MultipartWriter's background part uploads, against a fake client whose calls we can hold: the
caller keeps writing while parts upload, at most PARTS_IN_FLIGHT at once, in part order, and a part
that fails makes `complete` raise and abort."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from inferpipe.core.s3.errors import S3Error
from inferpipe.core.s3.objects import MIN_PART_SIZE, PARTS_IN_FLIGHT, S3Objects
from inferpipe.core.s3.uri import parse_s3_uri


class HeldClient:
    def __init__(self, fail_part: int | None = None) -> None:
        self.release = threading.Event()
        self.started: list[int] = []
        self.calls: list[str] = []
        self.completed: list[dict[str, Any]] | None = None
        self.fail_part = fail_part
        self.lock = threading.Lock()

    def create_multipart_upload(self, **kw: Any) -> dict[str, Any]:
        self.calls.append("create")
        return {"UploadId": "u1"}

    def upload_part(self, PartNumber: int, Body: bytes, **kw: Any) -> dict[str, Any]:
        with self.lock:
            self.started.append(PartNumber)
        self.release.wait(10)
        if PartNumber == self.fail_part:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "UploadPart")
        return {"ETag": f'"e{PartNumber}"'}

    def complete_multipart_upload(self, MultipartUpload: dict[str, Any], **kw: Any) -> None:
        self.calls.append("complete")
        self.completed = MultipartUpload["Parts"]

    def abort_multipart_upload(self, **kw: Any) -> None:
        self.calls.append("abort")


URI = parse_s3_uri("s3://bucket/out/x.out")


def test_parts_upload_while_the_caller_writes_and_complete_lists_them_in_order() -> None:
    client = HeldClient()
    writer = S3Objects(client, part_size=MIN_PART_SIZE).writer(URI)
    first = threading.Thread(target=writer.write, args=(b"a" * (MIN_PART_SIZE * PARTS_IN_FLIGHT),))
    first.start()
    first.join(5)
    assert not first.is_alive(), "write must return while its parts are still uploading"
    assert len(client.started) <= PARTS_IN_FLIGHT
    blocked = threading.Thread(target=writer.write, args=(b"b" * MIN_PART_SIZE,))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive(), "a part beyond PARTS_IN_FLIGHT must wait for room"
    client.release.set()
    blocked.join(10)
    writer.write(b"tail")
    writer.complete()
    assert client.completed == [{"PartNumber": n, "ETag": f'"e{n}"'} for n in range(1, PARTS_IN_FLIGHT + 3)]
    assert client.calls == ["create", "complete"]


def test_a_failed_background_part_fails_complete_and_aborts_the_upload() -> None:
    client = HeldClient(fail_part=1)
    client.release.set()
    writer = S3Objects(client, part_size=MIN_PART_SIZE).writer(URI)
    writer.write(b"a" * MIN_PART_SIZE)
    with pytest.raises(S3Error) as caught:
        writer.complete()
    assert caught.value.code == "InternalError"
    assert client.calls == ["create", "abort"]
    with pytest.raises(ValueError):
        writer.write(b"more")
