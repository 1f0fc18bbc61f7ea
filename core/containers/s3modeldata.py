"""Model data on S3 into the content cache: ModelDataUrl s3://…/model.tar.gz and
ModelDataSource.S3DataSource (S3Object or S3Prefix, Gzip or None), laid out as AWS lays it under
/opt/ml/model. Streams every object (memory stays at one chunk) through the same safe tree writer
and archive rules as local data.

Cache entries are named from the URI, the form and each object's ETag or VersionId, so an
unchanged object is never fetched twice: the GET's headers name the entry, and when it is already
there the body is left unread."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from inferpipe.core.containers.archive import HEADER_ALLOWANCE, extract
from inferpipe.core.containers.modeldata import ModelCache, ModelDataError, copy_errors
from inferpipe.core.containers.modeltree import LimitExceeded, TreeWriter, gib
from inferpipe.core.s3.errors import S3Error
from inferpipe.core.s3.objects import ObjectInfo, S3Objects
from inferpipe.core.s3.uri import S3Uri, S3UriError, parse_s3_uri
from inferpipe.core.spec import S3ModelData

log = logging.getLogger("inferpipe.modeldata")
PROGRESS_STEP = 64 * 1024 * 1024  # report a large download's progress every 64 MiB
DownloadProgress = Callable[[str, int, int], None]  # (uri, bytes received, object size)


def _name(source: S3ModelData, objects: list[ObjectInfo]) -> str:
    digest = hashlib.sha256(f"{source.data_type}\0{source.compression}\0{source.uri}\0".encode())
    for info in objects:
        digest.update(f"{info.uri.key}\0{info.identity}\0".encode())
    return f"s3-{digest.hexdigest()}"


def _progress(uri: S3Uri, total: int, listener: DownloadProgress | None) -> Callable[[int], None]:
    state = {"next": PROGRESS_STEP}

    def report(received: int) -> None:
        if received >= state["next"] or (received == total and total >= PROGRESS_STEP):
            state["next"] = received + PROGRESS_STEP
            log.info("model data %s: %s of %s downloaded", uri, gib(received), gib(total))
            if listener is not None:
                listener(str(uri), received, total)

    return report


def materialize_s3(
    cache: ModelCache, objects: S3Objects, source: S3ModelData, progress: DownloadProgress | None = None
) -> Path:
    """``progress(uri, received, total)`` hears a large object's download every PROGRESS_STEP bytes."""
    with copy_errors(source.uri):
        try:
            uri = parse_s3_uri(source.uri)
            if source.data_type == "S3Prefix":
                return _from_prefix(cache, objects, source, uri, progress)
            return _from_object(cache, objects, source, uri, progress)
        except S3UriError as exc:
            raise ModelDataError(f"Could not read model data at {source.uri}: {exc}") from exc
        except S3Error as exc:
            raise ModelDataError(exc.reason) from exc


def _from_object(
    cache: ModelCache, objects: S3Objects, source: S3ModelData, uri: S3Uri, progress: DownloadProgress | None
) -> Path:
    if not uri.key or uri.key.endswith("/"):
        raise S3Error(uri, "InvalidObjectKey", "the URI must name one object: its key is empty or ends with '/'")
    info, reader = objects.open(uri)
    with reader:
        reader.progress = _progress(uri, info.size, progress)
        limits = cache.limits
        if source.compression == "Gzip":
            if info.size > limits.max_bytes + HEADER_ALLOWANCE + limits.max_bytes // 64:
                raise LimitExceeded(
                    f"is a {gib(info.size)} archive, more than its contents may expand to: the"
                    f" {gib(limits.max_bytes)} limit (INFERPIPE_MAX_MODEL_DATA_BYTES)",
                    "INFERPIPE_MAX_MODEL_DATA_BYTES",
                )

            def fill(root_fd: int) -> None:
                extract(reader, root_fd, limits)  # type: ignore[arg-type]

        else:
            filename = uri.key.rsplit("/", 1)[-1]

            def fill(root_fd: int) -> None:
                tree = TreeWriter(root_fd, limits)
                tree.file(filename, reader, 0o644, info.size)
                tree.finish()

        return cache.build(_name(source, [info]), fill)


def _from_prefix(
    cache: ModelCache, objects: S3Objects, source: S3ModelData, uri: S3Uri, progress: DownloadProgress | None
) -> Path:
    # Keys ending in '/' are the empty "folder" objects consoles create: they hold no file.
    listed = [info for info in objects.list_prefix(uri) if not info.uri.key.endswith("/")]
    if not listed:
        bucket = S3Uri(uri.bucket, "")
        next(iter(objects.list_prefix(bucket, page_size=1)), None)  # a missing bucket says NoSuchBucket, not "empty"
        raise S3Error(uri, "NoSuchKey", "no object has this key prefix")
    total = sum(info.size for info in listed)
    if total > cache.limits.max_bytes:
        raise LimitExceeded(
            f"holds {gib(total)}, more than the {gib(cache.limits.max_bytes)} limit (INFERPIPE_MAX_MODEL_DATA_BYTES)",
            "INFERPIPE_MAX_MODEL_DATA_BYTES",
        )

    def fill(root_fd: int) -> None:
        tree = TreeWriter(root_fd, cache.limits)
        for listed_info in listed:
            got, reader = objects.open(listed_info.uri)
            with reader:
                reader.progress = _progress(got.uri, got.size, progress)
                if got.identity != listed_info.identity:
                    raise S3Error(got.uri, "ObjectChanged", "the object changed while the prefix was copied; try again")
                tree.file(listed_info.uri.key[len(uri.key) :], reader, 0o644, got.size)
        tree.finish()

    return cache.build(_name(source, listed), fill)
