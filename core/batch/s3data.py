"""A transform job's data on S3: the input objects (S3Prefix, ManifestFile), streaming reads of them,
and the streaming multipart upload of each output. Design notes: docs/batch-transform.md.

Synchronous, like core/s3: the job runs these in worker threads. Keys follow the same rules as local
paths (inputs.py): an output is ``<S3OutputPath>/<key relative to the prefix>.out``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from inferpipe.core.batch.inputs import InputError, InputFile, manifest_entries
from inferpipe.core.batch.outputs import BufferedOutput
from inferpipe.core.config import DEFAULT_MAX_MANIFEST_BYTES
from inferpipe.core.containers.hostpaths import PathRefused, confined_key
from inferpipe.core.errors import ValidationException
from inferpipe.core.s3.errors import S3Error, from_boto
from inferpipe.core.s3.objects import MultipartWriter, ObjectReader, S3Objects
from inferpipe.core.s3.uri import S3Uri, S3UriError, is_s3_uri, parse_s3_uri


def parse(uri: str, member: str) -> S3Uri:
    """The S3 URI of a request member, or a ValidationException saying what is wrong with it."""
    try:
        return parse_s3_uri(uri)
    except S3UriError as exc:
        raise ValidationException(f"{member}: {exc}") from None


def _failed(exc: S3Error, what: str) -> InputError:
    return InputError(f"ClientError: {what}: {exc.reason}")


def _relative(key: str, base: str, where: str) -> str:
    relative = key[len(base) :].lstrip("/")
    try:
        confined_key(relative, where)
    except PathRefused as exc:  # a `..` key would climb out of a local S3OutputPath
        raise InputError(f"ClientError: {exc}") from exc
    return relative


def list_inputs(
    objects: S3Objects, uri: str, data_type: str, max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
) -> list[InputFile]:
    """Every input object of the job, sorted by key (ManifestFile: in the manifest's order)."""
    source = parse(uri, "S3Uri")
    if data_type == "ManifestFile":
        files = _from_manifest(objects, source, max_manifest_bytes)
    else:
        files = _from_prefix(objects, source)
    if not files:
        raise InputError(
            f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that'
            " the bucket exists in the S3 endpoint inferpipe uses and that objects exist under that prefix."
        )
    return files


def _from_prefix(objects: S3Objects, prefix: S3Uri) -> list[InputFile]:
    # As for a local key prefix: keys are relative to the prefix's last "/" (s3://b/in/part- lists
    # in/part-1.csv as part-1.csv; s3://b/in/ lists in/sub/x.csv as sub/x.csv).
    base = prefix.key[: prefix.key.rfind("/") + 1]
    found: list[InputFile] = []
    try:
        for info in objects.list_prefix(prefix):
            if info.uri.key.endswith("/") and info.size == 0:
                continue  # a console "folder" marker, not data
            relative = _relative(info.uri.key, base, f"The input {info.uri}")
            found.append(InputFile(Path(str(info.uri)), relative, info.size, info.uri))
    except S3Error as exc:
        raise _failed(exc, "Cannot list the input prefix") from exc
    return found


def _from_manifest(objects: S3Objects, manifest: S3Uri, max_bytes: int) -> list[InputFile]:
    # read whole, like a local manifest: the size is checked from the GET's own header first
    try:
        info, chunks = objects.iter_object(manifest)
        if info.size > max_bytes:
            close = getattr(chunks, "close", None)  # ends the GET without reading its body
            if close is not None:
                close()
            raise InputError(
                f"ClientError: The manifest file {manifest} is {info.size} bytes, more than"
                f" INFERPIPE_MAX_MANIFEST_BYTES ({max_bytes})."
            )
        doc = json.loads(b"".join(chunks))
    except S3Error as exc:
        raise _failed(exc, "Cannot read the manifest file") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"ClientError: Cannot read the manifest file {manifest}: {exc}") from exc
    text, keys = manifest_entries(doc, str(manifest), "s3://bucket/prefix/")
    if not is_s3_uri(text):
        # an S3 object must not name files on the daemon's host
        raise InputError(f"ClientError: The manifest file {manifest} has the prefix {text!r}: it must be an s3:// URI.")
    try:
        prefix = parse_s3_uri(text)
    except S3UriError as exc:
        raise InputError(f"ClientError: The manifest file {manifest}: {exc}") from exc
    found: list[InputFile] = []
    for key in keys:
        # AWS's manifest semantics: each key is appended to the prefix as text
        uri = prefix.child(prefix.key + key)
        relative = _relative(key, "", f"The manifest file {manifest} lists the key")
        try:
            size = objects.head(uri).size
        except S3Error as exc:
            raise _failed(exc, f"The manifest file {manifest} lists {key!r}") from exc
        found.append(InputFile(Path(str(uri)), relative, size, uri))
    return found


def open_object(objects: S3Objects, uri: S3Uri) -> ObjectReader:
    """The object's body as a binary stream (core/s3's reader: an S3Error on any failure)."""
    return objects.open(uri)[1]


def output_uri(root: S3Uri, relative: str) -> S3Uri:
    """Where an input's output goes: ``<S3OutputPath>/<relative>.out``, as AWS lays out keys."""
    base = root.key if not root.key or root.key.endswith("/") else root.key + "/"
    return root.child(f"{base}{relative}.out")


def check_writable(objects: S3Objects, root: S3Uri, job: str) -> None:
    """Fail the job before any work when S3OutputPath cannot be written: a multipart upload is
    started and aborted, which needs the same permission as the outputs and leaves no object."""
    probe = output_uri(root, f".inferpipe-write-check-{job.lower()}")
    try:
        upload = objects.client.create_multipart_upload(Bucket=probe.bucket, Key=probe.key)
        objects.client.abort_multipart_upload(Bucket=probe.bucket, Key=probe.key, UploadId=upload["UploadId"])
    except (ClientError, BotoCoreError) as exc:
        error = from_boto(root, exc)
        raise InputError(f"ClientError: The output path {root} cannot be written: {error.reason}") from exc


class S3OutputWriter(BufferedOutput):
    """The output of one input, uploaded as it is produced (one part buffered, core/s3's multipart
    writer): the object appears only on ``commit``, which completes the upload; ``discard`` aborts it.
    The same interface as minibatch.OutputWriter, which writes local files."""

    def __init__(self, objects: S3Objects, uri: S3Uri) -> None:
        super().__init__()
        self.uri = uri
        self._objects = objects
        self._upload: MultipartWriter | None = None

    def open(self) -> None:
        self._upload = self._objects.writer(self.uri)

    def _send(self, pieces: Sequence[bytes]) -> None:
        assert self._upload is not None
        try:
            for piece in pieces:
                self._upload.write(piece)
        except S3Error as exc:
            raise OSError(exc.reason) from exc

    async def commit(self) -> None:
        await self.flush()
        await asyncio.to_thread(self._complete)

    def _complete(self) -> None:
        assert self._upload is not None
        try:
            self._upload.complete()
        except S3Error as exc:
            raise OSError(exc.reason) from exc

    def discard(self) -> None:
        self._drop_buffer()
        if self._upload is not None:
            self._upload.abort()
