"""Where capture files go. The writer names files by key (``endpoint/variant/yyyy/mm/dd/hh/id.jsonl``)
and a sink stores them: appended to while open, complete once finished. A local directory is one
sink; an object store is another that uploads each file when it is finished."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from inferpipe.core.containers.hostpaths import confined_key, create_file


class CaptureSink(Protocol):
    def append(self, key: str, data: bytes) -> None:
        """Add ``data`` at the end of the file ``key``, creating it on first use."""

    def finish(self, key: str) -> None:
        """The file ``key`` gets nothing more: release it (an object store uploads it now)."""


class FileSink:
    """Files under a local directory (a file:// destination). Files are created without following
    links anywhere on the way, so a capture file lands exactly under the checked destination."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[str, int] = {}

    def append(self, key: str, data: bytes) -> None:
        fd = self._open.get(key)
        if fd is None:
            parts = confined_key(key, "Capture file")
            dfd, fd = create_file(self.root.joinpath(*parts))
            os.close(dfd)
            self._open[key] = fd
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def finish(self, key: str) -> None:
        fd = self._open.pop(key, None)
        if fd is not None:
            os.close(fd)
