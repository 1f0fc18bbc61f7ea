"""Streaming reads and writes of S3 objects. Synchronous on purpose: boto3 is, so async callers run
these in a worker thread (`asyncio.to_thread`) and the event loop never waits on S3."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import S3Error, from_boto
from .uri import S3Uri

CHUNK = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3 refuses smaller parts (except the last)
# Parts uploading while the next one fills. One at a time made a transform job S3 -> S3 wait on
# every part's round trip (0.64x the same job file -> file in bench s3transform, 128 MiB); memory
# stays bounded at the part being filled plus these.
PARTS_IN_FLIGHT = 2
Progress = Callable[[int], None]  # called with the bytes received so far


@dataclass(frozen=True)
class ObjectInfo:
    uri: S3Uri
    size: int
    etag: str  # without its quotes
    version_id: str | None = None

    @property
    def identity(self) -> str:
        """What changes when the object does: a cache key part. A VersionId names the content for
        good; an ETag does for one key (S3 changes it on every write)."""
        return f"version={self.version_id}" if self.version_id else f"etag={self.etag}"


def _info(uri: S3Uri, meta: dict[str, Any], size_key: str = "ContentLength") -> ObjectInfo:
    version = meta.get("VersionId")
    return ObjectInfo(
        uri,
        int(meta.get(size_key) or 0),
        str(meta.get("ETag") or "").strip('"'),
        None if version in (None, "null") else str(version),
    )


class S3Objects:
    """The operations inferpipe needs, over one client, every failure raised as S3Error."""

    def __init__(self, client: Any, part_size: int = 8 * 1024 * 1024) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size {part_size} is below S3's minimum of {MIN_PART_SIZE} bytes")
        self.client = client
        self.part_size = part_size

    def head(self, uri: S3Uri) -> ObjectInfo:
        try:
            meta = self.client.head_object(Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            error = from_boto(uri, exc, head=True)
            if error.code == "NoSuchKey" and not self._bucket_exists(uri):
                error = S3Error(uri, "NoSuchBucket", "The specified bucket does not exist")
            raise error from exc
        except BotoCoreError as exc:
            raise from_boto(uri, exc) from exc
        return _info(uri, meta)

    def _bucket_exists(self, uri: S3Uri) -> bool:
        try:
            self.client.head_bucket(Bucket=uri.bucket)
        except (ClientError, BotoCoreError) as exc:
            return from_boto(uri, exc, head=True).code != "NoSuchKey"
        return True

    def open(self, uri: S3Uri, progress: Progress | None = None) -> tuple[ObjectInfo, ObjectReader]:
        """The object's metadata (from the GET itself, so it describes exactly the bytes that
        follow) and a binary reader of its body; close the reader when done with it."""
        try:
            response = self.client.get_object(Bucket=uri.bucket, Key=uri.key)
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(uri, exc) from exc
        info = _info(uri, response)
        return info, ObjectReader(info, response["Body"], progress)

    def iter_object(self, uri: S3Uri, chunk_size: int = CHUNK) -> tuple[ObjectInfo, Iterator[bytes]]:
        """The object's metadata (read from the GET itself, so it describes exactly the bytes that
        follow) and an iterator of its bytes; the iterator closes the connection when done."""
        try:
            response = self.client.get_object(Bucket=uri.bucket, Key=uri.key)
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(uri, exc) from exc
        body = response["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(chunk_size)
            except (ClientError, BotoCoreError) as exc:
                raise from_boto(uri, exc) from exc
            finally:
                body.close()

        return _info(uri, response), chunks()

    def download(self, uri: S3Uri, out: IO[bytes], progress: Progress | None = None) -> ObjectInfo:
        """Stream the object into `out`; memory stays at one chunk."""
        info, chunks = self.iter_object(uri)
        received = 0
        for chunk in chunks:
            out.write(chunk)
            received += len(chunk)
            if progress is not None:
                progress(received)
        if received != info.size:
            raise S3Error(uri, "IncompleteBody", f"received {received} of {info.size} bytes")
        return info

    def list_prefix(self, uri: S3Uri, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object whose key starts with uri.key, in key order, a page at a time."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=uri.bucket, Prefix=uri.key, PaginationConfig={"PageSize": page_size}):
                for item in page.get("Contents", []):
                    yield _info(uri.child(item["Key"]), item, size_key="Size")
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(uri, exc) from exc

    def writer(self, uri: S3Uri) -> MultipartWriter:
        return MultipartWriter(self, uri)

    def put_bytes(self, uri: S3Uri, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=uri.bucket, Key=uri.key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(uri, exc) from exc


class ObjectReader:
    """A GET's body as a binary file: every failure is an S3Error, `progress` hears the running
    total, and a body shorter than its Content-Length is an error, not a silent truncation."""

    def __init__(self, info: ObjectInfo, body: Any, progress: Progress | None = None) -> None:
        self.info = info
        self._body = body
        self.progress = progress
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._body.read(None if size is None or size < 0 else size)
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(self.info.uri, exc) from exc
        self.received += len(data)
        if self.progress is not None and data:
            self.progress(self.received)
        if not data and self.received != self.info.size and (size is None or size != 0):
            raise S3Error(self.info.uri, "IncompleteBody", f"received {self.received} of {self.info.size} bytes")
        return bytes(data)

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MultipartWriter:
    """A streaming upload: `write` buffers one part, and each full part uploads in the background
    (at most PARTS_IN_FLIGHT at once; `write` waits for room), so the caller keeps producing while S3
    receives. A failed part raises from a later `write` or from `complete`. The object appears only
    on `complete`; `abort` (or leaving the `with` block on an exception) discards every part. An
    object smaller than one part is sent with one PUT instead."""

    def __init__(self, objects: S3Objects, uri: S3Uri, parts_in_flight: int = PARTS_IN_FLIGHT) -> None:
        self._objects = objects
        self._client = objects.client
        self.uri = uri
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._in_flight: deque[Future[dict[str, Any]]] = deque()
        self._max_in_flight = max(1, parts_in_flight)
        self._pool: ThreadPoolExecutor | None = None
        self._next_part = 1
        self.bytes_written = 0
        self._closed = False

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.complete()

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError(f"write to {self.uri} after it was completed or aborted")
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= self._objects.part_size:
            part = bytes(self._buffer[: self._objects.part_size])
            del self._buffer[: self._objects.part_size]
            self._upload_part(part)

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(Bucket=self.uri.bucket, Key=self.uri.key, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(self.uri, exc) from exc

    def _upload_part(self, data: bytes) -> None:
        if self._upload_id is None:
            # in the caller's thread: a missing bucket or a denied key fails the first write itself
            self._upload_id = self._call("create_multipart_upload")["UploadId"]
        while len(self._in_flight) >= self._max_in_flight:
            self._parts.append(self._in_flight.popleft().result())
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="s3-part")
        number, self._next_part = self._next_part, self._next_part + 1
        self._in_flight.append(self._pool.submit(self._send_part, self._upload_id, number, data))

    def _send_part(self, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = self._call("upload_part", UploadId=upload_id, PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _drain(self) -> None:
        """Wait for every part in flight, in order; the first failure raises."""
        while self._in_flight:
            self._parts.append(self._in_flight.popleft().result())

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def complete(self) -> None:
        if self._closed:
            return
        try:
            if self._upload_id is None:
                self._call("put_object", Body=bytes(self._buffer))
            else:
                if self._buffer:
                    self._upload_part(bytes(self._buffer))
                self._drain()
                self._call(
                    "complete_multipart_upload", UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
                )
        except BaseException:
            self.abort()
            raise
        self._stop_pool()
        self._buffer.clear()
        self._closed = True

    def abort(self) -> None:
        """Discard what was uploaded. Best effort: an abort that fails leaves parts S3's lifecycle
        rules clean up, and must not hide the error that caused it. Parts still uploading finish
        first, so none lands after the abort."""
        self._closed = True
        self._buffer.clear()
        self._in_flight.clear()
        self._stop_pool()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            with contextlib.suppress(ClientError, BotoCoreError):
                self._client.abort_multipart_upload(Bucket=self.uri.bucket, Key=self.uri.key, UploadId=upload_id)
