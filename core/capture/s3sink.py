"""Capture files on S3 (an s3:// destination). S3 has no append, so a file is spooled to an unnamed
local temporary file while it is open and uploaded, as one object, when the writer finishes it: the
object appears complete or not at all, and memory holds at most one multipart part whatever the
file's size. Everything here runs on the capture writer's thread, never on a request's."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from typing import IO

from inferpipe.core.containers.hostpaths import confined_key
from inferpipe.core.s3.objects import S3Objects
from inferpipe.core.s3.uri import S3Uri

log = logging.getLogger(__name__)


def object_uri(root: S3Uri, key: str) -> S3Uri:
    """``{prefix}/{key}`` in the destination's bucket, as SageMaker lays out capture keys."""
    confined_key(key, "Capture file")  # the writer's keys are its own; a `..` would still be a bug
    base = root.key.rstrip("/")
    return root.child(f"{base}/{key}" if base else key)


class S3Sink:
    """Finished files uploaded under ``root``. ``deferred``: a record is stored only once its file's
    upload succeeds, so the writer counts records written (or dropped) when it finishes a file."""

    deferred = True

    def __init__(self, objects: S3Objects | Callable[[], S3Objects], root: S3Uri) -> None:
        # A callable is called on the first upload, on the writer's thread: building a boto3 client
        # takes long enough that the event loop installing a route must not wait for it.
        self._objects = objects
        self.root = root
        self._spools: dict[str, IO[bytes]] = {}

    @property
    def objects(self) -> S3Objects:
        if not isinstance(self._objects, S3Objects):
            self._objects = self._objects()
        return self._objects

    def append(self, key: str, data: bytes) -> None:
        spool = self._spools.get(key)
        if spool is None:
            # open across appends, closed by finish
            spool = self._spools[key] = tempfile.TemporaryFile(prefix="inferpipe-capture-")  # noqa: SIM115
        spool.write(data)

    def finish(self, key: str) -> None:
        """Upload the file; an S3Error (or OSError) on failure, after which nothing of it remains."""
        spool = self._spools.pop(key, None)
        if spool is None:
            return
        try:
            spool.seek(0)
            with self.objects.writer(object_uri(self.root, key)) as upload:
                while chunk := spool.read(self.objects.part_size):
                    upload.write(chunk)
        finally:
            spool.close()
