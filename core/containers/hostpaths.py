"""Which host paths the daemon may read (model data, transform inputs) or write (transform outputs).
Design notes: docs/security.md."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from inferpipe.core.config import Settings

# Refused whatever INFERPIPE_ALLOWED_ROOTS says; Docker's data root and the home are added at run time.
SYSTEM_TREES = ("/etc", "/proc", "/sys", "/dev", "/run", "/var/run", "/boot", "/var/lib/docker")
# Credentials in the daemon user's home directory: a model must not be able to ship them to a container.
CREDENTIAL_DIRS = (".ssh", ".aws", ".docker", ".gnupg", ".kube")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathRefused(Exception):
    """The path may not be used; the message says why and what to do."""


def kind_of(mode: int) -> str:
    """What a non-regular file is, for messages."""
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class HostPathPolicy:
    """Allowed roots (None: anywhere) minus the system trees, which are refused in any case."""

    def __init__(
        self,
        roots: tuple[Path, ...] | None,
        denied: tuple[Path, ...],
        docker_root: Callable[[], Path | None] | None = None,
    ) -> None:
        self.roots = None if roots is None else tuple(Path(os.path.realpath(r)) for r in roots)
        self._denied = tuple(Path(os.path.realpath(d)) for d in denied)
        self._docker_root = docker_root
        self._engine_root: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, docker_root: Callable[[], Path | None] | None = None) -> HostPathPolicy:
        user_home = Path.home()
        denied = (
            *(Path(p) for p in SYSTEM_TREES),
            settings.home,
            *(user_home / d for d in CREDENTIAL_DIRS),
        )
        return cls(settings.allowed_roots, denied, docker_root)

    def denied(self) -> tuple[Path, ...]:
        if self._engine_root is None and self._docker_root is not None:
            # asked once it answers: the engine may not run yet when the daemon starts
            with contextlib.suppress(Exception):
                root = self._docker_root()
                if root is not None:
                    self._engine_root = Path(os.path.realpath(root))
        return self._denied + ((self._engine_root,) if self._engine_root else ())

    def check(self, path: Path, what: str) -> Path:
        """The resolved path, or PathRefused. ``what`` ("S3OutputPath") names the path in the message."""
        try:
            real = Path(os.path.realpath(path))
        except OSError as exc:  # e.g. a link in /proc that only its owner may read
            raise PathRefused(f"{what} {path} cannot be resolved: {exc.strerror or exc}.".lstrip()) from exc
        shown = f"{what} {path}".strip() + (f" (which resolves to {real})" if real != Path(path) else "")
        if real == Path("/"):
            raise PathRefused(f"{shown} is the host's root directory, which inferpipe never reads or writes.")
        for tree in self.denied():
            if inside(real, tree):
                raise PathRefused(
                    f"{shown} is inside {tree}, which inferpipe never reads or writes (system files, Docker's"
                    " state, credentials or inferpipe's own home). Copy the data to a directory of your own."
                )
            if inside(tree, real):
                raise PathRefused(
                    f"{shown} contains {tree}, which inferpipe never reads or writes (system files, Docker's"
                    " state, credentials or inferpipe's own home). Name a directory that holds only the data."
                )
        if self.roots is not None and not any(inside(real, r) for r in self.roots):
            allowed = ":".join(str(r) for r in self.roots)
            raise PathRefused(
                f"{shown} is outside the directories inferpipe may use (INFERPIPE_ALLOWED_ROOTS={allowed})."
            )
        return real


# race-free opening ---------------------------------------------------------------------------------
def open_dir(real: Path) -> int:
    """An fd of the directory at ``real`` (an absolute, resolved path), reached without following any
    symbolic link: a component replaced by a link since the check makes this fail."""
    fd = os.open("/", DIR_FLAGS)
    try:
        for part in real.parts[1:]:
            nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def parent_fd(real: Path) -> Iterator[int]:
    fd = open_dir(real.parent)
    try:
        yield fd
    finally:
        os.close(fd)


def lstat_at(dir_fd: int, name: str) -> os.stat_result:
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def open_regular_at(dir_fd: int, name: str, shown: str) -> int:
    """Open a regular file for reading. Its lstat is checked first (a FIFO or device is never
    opened), then the opened file is checked to be the one that was looked at."""
    before = lstat_at(dir_fd, name)
    if not stat.S_ISREG(before.st_mode):
        raise PathRefused(f"{shown} is {kind_of(before.st_mode)}: only regular files and directories are accepted.")
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    after = os.fstat(fd)
    if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise PathRefused(f"{shown} changed while it was being opened.")
    os.set_blocking(fd, True)
    return fd


def open_regular(real: Path, shown: str) -> int:
    with parent_fd(real) as dfd:
        return open_regular_at(dfd, real.name, shown)


def lstat(real: Path) -> os.stat_result | None:
    """The lstat of a resolved path reached without following links; None if it does not exist."""
    if real == Path("/"):
        return os.lstat("/")
    try:
        with parent_fd(real) as dfd:
            return lstat_at(dfd, real.name)
    except FileNotFoundError:
        return None


def confined_key(key: str, what: str) -> tuple[str, ...]:
    """The components of a relative key (a manifest key, a path below a prefix) that may not climb out
    of the directory it is relative to. The message names the key."""
    parts = tuple(p for p in key.split("/") if p not in ("", "."))
    if ".." in parts:
        raise PathRefused(f"{what} {key!r} contains '..': keys must stay below their prefix.")
    if not parts:
        raise PathRefused(f"{what} {key!r} names no file.")
    return parts


def default_policy() -> HostPathPolicy:
    """The system trees only: for callers without the daemon's settings (tests, tools)."""
    return HostPathPolicy(None, tuple(Path(p) for p in SYSTEM_TREES))


def create_file(path: Path) -> tuple[int, int]:
    """Create ``path`` (absolute and resolved: every component a real directory) for writing, making
    missing directories, never following a link: a link anywhere on the way fails (ELOOP/ENOTDIR), so
    the file lands exactly at ``path``. An existing file of that name is replaced, never written
    through (it could be a hard link to a file elsewhere). Returns (directory fd, file fd)."""
    root = os.open("/", DIR_FLAGS)
    try:
        dfd = make_dirs_at(root, path.parent.parts[1:])
    finally:
        os.close(root)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path.name, dir_fd=dfd)
        fd = os.open(path.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
    except OSError:
        os.close(dfd)
        raise
    return dfd, fd


def make_dirs_at(root_fd: int, parts: tuple[str, ...]) -> int:
    """Create (as needed) and open the directory ``root/parts...`` without following links; the caller
    closes the returned fd. A component that is a symbolic link or a file fails (ELOOP / ENOTDIR)."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise OSError(
                    exc.errno, f"'{part}' is a symbolic link or a file, and inferpipe never writes through links"
                ) from exc
            os.close(fd)
            fd = nxt
    except OSError:
        os.close(fd)
        raise
    return fd
