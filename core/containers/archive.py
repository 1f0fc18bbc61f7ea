"""Extracting a model tarball (untrusted input) into a staging directory, safely on every Python.
Design notes: docs/model-data.md."""

from __future__ import annotations

import gzip
import tarfile
import zlib
from typing import BinaryIO

from inferpipe.core.containers.modeltree import TreeLimits, TreeRefused, TreeWriter, shown

GZIP_MAGIC = b"\x1f\x8b"
# Bytes of the decompressed stream between two entries that are not file data (headers, long
# names, pax records, padding): tarfile holds a pax header in memory while parsing it, so a crafted
# multi-gigabyte header must stop here.
HEADER_ALLOWANCE = 16 * 1024 * 1024


class _Counted:
    """The decompressed stream, refusing to deliver more than HEADER_ALLOWANCE bytes of anything but
    file data since the last entry was written."""

    def __init__(self, raw: BinaryIO, tree: TreeWriter) -> None:
        self.raw = raw
        self.tree = tree
        self.total = 0
        self._marks = (0, 0)

    def mark(self) -> None:
        """An entry is written: what was read so far is accounted for."""
        self._marks = (self.total, self.tree.bytes)

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.total += len(data)
        total_mark, bytes_mark = self._marks
        if (self.total - total_mark) - (self.tree.bytes - bytes_mark) > HEADER_ALLOWANCE:
            raise TreeRefused("has tar headers far larger than its entries need (a malformed or hostile archive)")
        return data


def extract(source: BinaryIO, root_fd: int, limits: TreeLimits) -> TreeWriter:
    """Extract the tar (gzip compressed or not) read from ``source`` under ``root_fd``; raise
    TreeRefused (or its LimitExceeded) naming the entry or the limit."""
    tree = TreeWriter(root_fd, limits)
    head = source.read(2)
    stream: BinaryIO = _Prefixed(head, source)
    if head == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
    counted = _Counted(stream, tree)
    try:
        with tarfile.open(fileobj=counted, mode="r|") as tar:  # type: ignore[arg-type]
            for member in tar:
                _add(tree, tar, member)
                counted.mark()
    except TreeRefused:
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeError) as exc:
        raise TreeRefused(f"cannot be read as a gzip compressed tar archive ({exc})") from exc
    tree.finish()
    return tree


def _add(tree: TreeWriter, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
    if m.isdir():
        tree.directory(m.name)
    elif m.isreg():
        data = tar.extractfile(m)
        assert data is not None  # a regular member always has a file object
        tree.file(m.name, data, m.mode, m.size)
    elif m.issym():
        tree.symlink(m.name, m.linkname)
    elif m.islnk():
        tree.hardlink(m.name, m.linkname)
    elif m.ischr() or m.isblk():
        raise TreeRefused(f"'{shown(m.name)}' is a device")
    elif m.isfifo():
        raise TreeRefused(f"'{shown(m.name)}' is a FIFO")
    else:
        raise TreeRefused(f"'{shown(m.name)}' has an unsupported entry type {m.type!r}")


class _Prefixed:
    """``source`` with the bytes already read to sniff its format put back in front."""

    def __init__(self, head: bytes, source: BinaryIO) -> None:
        self.head = head
        self.source = source

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.source.read(size)
        if size < 0:
            out, self.head = self.head + self.source.read(), b""
            return out
        out, self.head = self.head[:size], self.head[size:]
        if len(out) < size:
            out += self.source.read(size - len(out))
        return out
