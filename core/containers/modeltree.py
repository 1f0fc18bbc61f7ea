"""A model-data tree being built in a staging directory, from untrusted input (a tarball, a host
directory), so that nothing lands outside it. Design notes: docs/model-data.md."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from inferpipe.core.containers.hostpaths import DIR_FLAGS

CHUNK = 1 << 20
MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit
FILE, DIR, LINK = "file", "dir", "link"
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class TreeRefused(Exception):
    """The input is unsafe or malformed; the message says which entry and why."""


class LimitExceeded(TreeRefused):
    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class TreeLimits:
    max_bytes: int
    max_members: int


def gib(n: int) -> str:
    """A byte count as the README writes limits: 20 GiB, 512 MiB, 4096 bytes."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def shown(name: str) -> str:
    """An entry's name for a message: crafted names can be thousands of characters long."""
    return name if len(name) <= 160 else f"{name[:100]}...{name[-50:]}"


def split(name: str) -> list[str]:
    """Path components, without empty and '.' ones ('..' kept)."""
    return [p for p in name.split("/") if p not in ("", ".")]


class TreeWriter:
    """Builds a tree under ``root_fd`` (an open directory fd the caller owns)."""

    def __init__(self, root_fd: int, limits: TreeLimits) -> None:
        self.root_fd = root_fd
        self.limits = limits
        self.entries: dict[tuple[str, ...], str] = {(): DIR}
        self.links: dict[tuple[str, ...], str] = {}
        self.members = 0
        self.bytes = 0

    # limits --------------------------------------------------------------------------------------
    def count_member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise LimitExceeded(
                f"has more than {self.limits.max_members:,} entries, the limit (INFERPIPE_MAX_MODEL_DATA_MEMBERS)",
                "INFERPIPE_MAX_MODEL_DATA_MEMBERS",
            )

    def count_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_bytes:
            raise self.too_big()

    def too_big(self) -> LimitExceeded:
        return LimitExceeded(
            f"expands past the {gib(self.limits.max_bytes)} limit (INFERPIPE_MAX_MODEL_DATA_BYTES)",
            "INFERPIPE_MAX_MODEL_DATA_BYTES",
        )

    # paths ---------------------------------------------------------------------------------------
    def path(self, name: str) -> tuple[str, ...]:
        if name.startswith("/"):
            raise TreeRefused(f"'{shown(name)}' has an absolute path")
        parts = tuple(split(name))
        if ".." in parts:
            raise TreeRefused(f"'{shown(name)}' leads outside the model data ('..')")
        if not parts:
            raise TreeRefused(f"'{shown(name)}' has an empty name")
        return parts

    def _parent(self, parts: tuple[str, ...], name: str) -> int:
        """Open the parent directory of ``parts``, creating missing directories, never following a link."""
        fd = os.dup(self.root_fd)
        try:
            for i, part in enumerate(parts[:-1], 1):
                kind = self.entries.get(parts[:i])
                if kind == LINK:
                    raise TreeRefused(f"'{shown(name)}' lies inside the symbolic link '{shown('/'.join(parts[:i]))}'")
                if kind == FILE:
                    raise TreeRefused(f"'{shown(name)}' lies inside the file '{shown('/'.join(parts[:i]))}'")
                if kind is None:
                    self.count_member()
                    os.mkdir(part, 0o755, dir_fd=fd)
                    self.entries[parts[:i]] = DIR
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
                if kind is None:
                    os.fchmod(nxt, 0o755)  # mkdir's mode passes through the daemon's 077 umask
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _clear(self, dfd: int, parts: tuple[str, ...], name: str) -> None:
        """Make room for a new entry: a file or link of the same name is replaced, a directory is not."""
        kind = self.entries.get(parts)
        if kind is None:
            return
        if kind == DIR:
            raise TreeRefused(f"'{shown(name)}' would replace a directory")
        os.unlink(parts[-1], dir_fd=dfd)
        del self.entries[parts]
        self.links.pop(parts, None)

    # entries -------------------------------------------------------------------------------------
    def directory(self, name: str) -> None:
        self.count_member()
        if not split(name) and not name.startswith("/"):
            return  # the tree's own root, as "./" in archives made with "tar -C dir ."
        parts = self.path(name)
        kind = self.entries.get(parts)
        if kind == DIR:
            return
        dfd = self._parent(parts, name)
        try:
            self._clear(dfd, parts, name)
            os.mkdir(parts[-1], 0o755, dir_fd=dfd)
            # mkdir's mode passes through the daemon's 077 umask: containers read the copy as
            # their own user, so its directories must be 0755
            new = os.open(parts[-1], DIR_FLAGS, dir_fd=dfd)
            try:
                os.fchmod(new, 0o755)
            finally:
                os.close(new)
            self.entries[parts] = DIR
        finally:
            os.close(dfd)

    def file(self, name: str, source: BinaryIO | Callable[[int], bytes], mode: int, size: int | None = None) -> None:
        """A regular file from ``source`` (a binary file, or a read(n) callable); ``size``, when the
        input declares it, is checked against the byte limit before anything is written."""
        parts = self.path(name)
        self.count_member()
        if size is not None and self.bytes + size > self.limits.max_bytes:
            raise self.too_big()
        read = source.read if hasattr(source, "read") else source
        dfd = self._parent(parts, name)
        try:
            self._clear(dfd, parts, name)
            fd = os.open(parts[-1], NEW_FILE_FLAGS, 0o600, dir_fd=dfd)
            self.entries[parts] = FILE
            try:
                while chunk := read(CHUNK):  # type: ignore[operator]
                    self.count_bytes(len(chunk))
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                os.fchmod(fd, 0o755 if mode & stat.S_IXUSR else 0o644)
            finally:
                os.close(fd)
        finally:
            os.close(dfd)

    def symlink(self, name: str, target: str) -> None:
        parts = self.path(name)
        self.count_member()
        if not target or target.startswith("/"):
            raise TreeRefused(f"'{shown(name)}' is an absolute symbolic link ({shown(target)}): links must be relative")
        if self.resolve(parts[:-1], target) is None:
            raise TreeRefused(f"'{shown(name)}' is a symbolic link leading outside the model data ({shown(target)})")
        dfd = self._parent(parts, name)
        try:
            self._clear(dfd, parts, name)
            os.symlink(target, parts[-1], dir_fd=dfd)
            self.entries[parts] = LINK
            self.links[parts] = target
        finally:
            os.close(dfd)

    def hardlink(self, name: str, target: str) -> None:
        parts = self.path(name)
        self.count_member()
        try:
            tparts = self.path(target)
        except TreeRefused:
            raise TreeRefused(
                f"'{shown(name)}' is a hard link leading outside the model data ({shown(target)})"
            ) from None
        if self.entries.get(tparts) != FILE:
            raise TreeRefused(
                f"'{shown(name)}' is a hard link to '{shown(target)}', which is not a regular file in the model data"
            )
        if tparts == parts:
            return
        tfd = self._parent(tparts, target)
        try:
            dfd = self._parent(parts, name)
            try:
                self._clear(dfd, parts, name)
                os.link(tparts[-1], parts[-1], src_dir_fd=tfd, dst_dir_fd=dfd, follow_symlinks=False)
                self.entries[parts] = FILE
            finally:
                os.close(dfd)
        finally:
            os.close(tfd)

    # links ---------------------------------------------------------------------------------------
    def resolve(self, start: tuple[str, ...], target: str) -> tuple[str, ...] | None:
        """Where ``target``, relative to the directory ``start``, leads through the tree as it stands,
        following the links it holds; None if that is outside the tree (or a loop)."""
        stack = list(start)
        pending = list(split(target))
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if not stack:
                    return None
                stack.pop()
                continue
            here = (*stack, part)
            if self.entries.get(here) == LINK:
                hops += 1
                link = self.links[here]
                if hops > MAX_LINK_HOPS or link.startswith("/"):
                    return None
                pending[:0] = split(link)
                continue
            stack.append(part)
        return tuple(stack)

    def finish(self) -> None:
        """Check every link again now that the tree is complete: a link that was safe when created may
        point elsewhere once later entries (links, directories) exist."""
        for parts, target in self.links.items():
            if self.resolve(parts[:-1], target) is None:
                raise TreeRefused(
                    f"'{shown('/'.join(parts))}' is a symbolic link leading outside the model data ({shown(target)})"
                    " once the later entries exist"
                )
