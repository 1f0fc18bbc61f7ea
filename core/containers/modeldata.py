"""Model artifacts: a ModelDataUrl turned into the copy containers mount read-only at /opt/ml/model.
Design notes: docs/model-data.md."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from inferpipe.core.config import DEFAULT_MAX_MODEL_DATA_BYTES, DEFAULT_MAX_MODEL_DATA_MEMBERS
from inferpipe.core.containers import hostpaths
from inferpipe.core.containers.archive import HEADER_ALLOWANCE, extract
from inferpipe.core.containers.hostpaths import DIR_FLAGS, HostPathPolicy, PathRefused, kind_of
from inferpipe.core.containers.modeltree import LimitExceeded, TreeLimits, TreeRefused, TreeWriter, gib
from inferpipe.core.spec import ContainerSpec, S3ModelData

if TYPE_CHECKING:
    from inferpipe.core.s3.objects import S3Objects

CHUNK = 1 << 20
TARBALL_SUFFIXES = (".tar.gz", ".tgz")


class ModelDataError(Exception):
    pass


@contextlib.contextmanager
def copy_errors(url: str) -> Iterator[None]:
    """What copying model data into the cache can raise, as the ModelDataError naming its URL (local
    files and S3 objects alike)."""
    try:
        yield
    except LimitExceeded as exc:
        raise ModelDataError(f"Model data at {url} {exc}.") from exc
    except TreeRefused as exc:
        raise ModelDataError(f"Refusing model data at {url}: {exc}.") from exc
    except OSError as exc:
        raise ModelDataError(f"Could not copy model data at {url}: {exc}") from exc


def local_path(url: str) -> Path:
    if url.startswith("s3://"):
        raise ModelDataError(
            f"Could not find model data at {url}: S3 is not configured in inferpipe."
            " Use a file:// URL or a local path to a .tar.gz or a directory."
        )
    if url.startswith("https://"):
        raise ModelDataError(f"Could not find model data at {url}: inferpipe does not download model data over HTTPS.")
    if url.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    return Path(url)


def model_data_problem(url: str, policy: HostPathPolicy) -> str | None:
    """What is wrong with a local ModelDataUrl that can be seen without reading it: outside the allowed
    roots, or a socket, FIFO or device. A path that does not exist (yet) is not a problem here: as on
    AWS, the data is read when an endpoint is created."""
    try:
        path = local_path(url)
    except ModelDataError:
        return None
    if not path.is_absolute():
        return None
    try:
        real = policy.check(path, "ModelDataUrl")
        st = hostpaths.lstat(real)
    except PathRefused as exc:
        return str(exc)
    except OSError:
        return None  # unreadable now; reported with its reason when an endpoint is created
    if st is None or stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        return None
    return (
        f"ModelDataUrl {url} is {kind_of(st.st_mode)}: only a gzip compressed tar archive (.tar.gz) or a"
        " directory is accepted."
    )


class _Hashing:
    """A binary file that hashes what is read from it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data

    def drain(self) -> str:
        while self.read(CHUNK):
            pass
        return self.hash.hexdigest()


class ModelCache:
    def __init__(
        self,
        root: Path,
        policy: HostPathPolicy | None = None,
        limits: TreeLimits | None = None,
        s3: Callable[[], S3Objects] | None = None,
    ) -> None:
        self.root = root
        self._s3_factory = s3  # called once, on the first s3:// model data: most homes never need S3
        self._s3: S3Objects | None = None
        self.policy = policy or HostPathPolicy(None, (*(Path(p) for p in hostpaths.SYSTEM_TREES), root))
        self.limits = limits or TreeLimits(DEFAULT_MAX_MODEL_DATA_BYTES, DEFAULT_MAX_MODEL_DATA_MEMBERS)
        self._lock = threading.Lock()  # guards the pins, the staging names and what is published
        self._pins: dict[str, int] = {}
        self._staging: set[str] = set()
        self._builds: dict[str, threading.Lock] = {}

    # handing out and pinning ---------------------------------------------------------------------
    def materialize_container(
        self, cont: ContainerSpec, progress: Callable[[str, int, int], None] | None = None
    ) -> Path:
        """``materialize`` for a container's ModelDataSource or ModelDataUrl; ``progress(uri, received,
        total)`` hears large S3 downloads."""
        if cont.model_data_source is not None:
            return self.materialize_s3(cont.model_data_source, progress)
        assert cont.model_data_url  # callers skip containers without model data
        if cont.model_data_url.startswith("s3://"):
            return self.materialize_s3(S3ModelData(cont.model_data_url, "S3Object", "Gzip"), progress)
        return self.materialize(cont.model_data_url)

    def materialize_s3(self, source: S3ModelData, progress: Callable[[str, int, int], None] | None = None) -> Path:
        from inferpipe.core.containers.s3modeldata import materialize_s3

        if self._s3_factory is None:
            raise ModelDataError(f"Could not read model data at {source.uri}: S3 is not configured in inferpipe.")
        with self._lock:
            if self._s3 is None:
                self._s3 = self._s3_factory()
        return materialize_s3(self, self._s3, source, progress)

    def build(self, name: str, fill: Callable[[int], None]) -> Path:
        """The entry `name`, pinned: the one already in the cache, or one made now by ``fill(root_fd)``
        in a staging directory and published whole (so a failed fill leaves nothing behind)."""
        if (found := self.pin_existing(name)) is not None:
            return found
        with self._build_lock(name):
            if (found := self.pin_existing(name)) is not None:
                return found
            with self._staging_dir(name) as (staging, root_fd):
                fill(root_fd)
                return self._publish(name, staging)

    def materialize(self, url: str) -> Path:
        """The cache entry holding a copy of the model data, pinned: release it with ``release``."""
        if url.startswith("s3://"):
            return self.materialize_s3(S3ModelData(url, "S3Object", "Gzip"))
        path = local_path(url)
        try:
            real = self.policy.check(path, "")
            st = hostpaths.lstat(real)
        except PathRefused as exc:
            raise ModelDataError(f"Refusing model data at {url}: {exc}") from exc
        except OSError as exc:
            raise ModelDataError(f"Could not read model data at {url}: {exc.strerror or exc}.") from exc
        if st is None:
            raise ModelDataError(f"Could not find model data at {url}.")
        try:
            if stat.S_ISDIR(st.st_mode):
                with copy_errors(url):
                    return self._from_directory(url, real)
            if not stat.S_ISREG(st.st_mode):
                raise ModelDataError(
                    f"Refusing model data at {url}: it is {kind_of(st.st_mode)}; only a gzip compressed tar"
                    " archive (.tar.gz) or a directory is accepted."
                )
            if not (path.name.endswith(TARBALL_SUFFIXES) or real.name.endswith(TARBALL_SUFFIXES)):
                raise ModelDataError(
                    f"Model data at {url} must be a gzip compressed tar archive (.tar.gz) or a directory."
                )
            with copy_errors(url):
                return self._from_tarball(url, real, st.st_size)
        except PathRefused as exc:
            raise ModelDataError(f"Refusing model data at {url}: {exc}") from exc

    def pin_existing(self, name: str) -> Path | None:
        """Pin an entry that is already in the cache (the one running containers mount, found again
        after a daemon restart); None if it is not there."""
        if not name or name.startswith(".") or "/" in name:
            return None
        with self._lock:
            target = self.root / name
            if not target.is_dir():
                return None
            self._pins[name] = self._pins.get(name, 0) + 1
            return target

    def release(self, entry: Path) -> None:
        with self._lock:
            left = self._pins.get(entry.name, 0) - 1
            if left > 0:
                self._pins[entry.name] = left
            else:
                self._pins.pop(entry.name, None)

    def pinned(self) -> dict[str, int]:
        with self._lock:
            return dict(self._pins)

    def collect(self) -> list[Path]:
        """Remove every entry no fleet pins, and staging left by a crash. Entries are renamed away
        under the lock (so none is handed out meanwhile) and deleted outside it."""
        if not self.root.is_dir():
            return []
        removed: list[Path] = []
        doomed: list[Path] = []
        with self._lock:
            for entry in self.root.iterdir():
                if entry.name.startswith("."):
                    if entry.name not in self._staging:
                        doomed.append(entry)
                    continue
                if self._pins.get(entry.name) or not entry.is_dir():
                    continue
                trash = self.root / f".trash-{entry.name}-{uuid.uuid4().hex[:8]}"
                entry.rename(trash)
                doomed.append(trash)
                removed.append(entry)
        for d in doomed:
            shutil.rmtree(d, ignore_errors=True)
        return removed

    # building ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _build_lock(self, name: str) -> Iterator[None]:
        with self._lock:
            lock = self._builds.setdefault(name, threading.Lock())
        with lock:
            yield

    @contextlib.contextmanager
    def _staging_dir(self, name: str) -> Iterator[tuple[Path, int]]:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock:
            staging = Path(tempfile.mkdtemp(prefix=f".{name[:16]}-", dir=self.root))
            self._staging.add(staging.name)
        fd = os.open(staging, DIR_FLAGS)
        try:
            yield staging, fd
        finally:
            os.close(fd)
            shutil.rmtree(staging, ignore_errors=True)  # gone once published
            with self._lock:
                self._staging.discard(staging.name)

    def _publish(self, name: str, staging: Path) -> Path:
        os.chmod(staging, 0o755)
        with self._lock:
            target = self.root / name
            if not target.is_dir():  # an identical copy may have been published meanwhile: keep that one
                staging.rename(target)
            self._pins[name] = self._pins.get(name, 0) + 1
            return target

    def _from_tarball(self, url: str, real: Path, size: int) -> Path:
        if size > self.limits.max_bytes + HEADER_ALLOWANCE + self.limits.max_bytes // 64:
            raise LimitExceeded(
                f"is a {gib(size)} archive, more than its contents may expand to: the"
                f" {gib(self.limits.max_bytes)} limit (INFERPIPE_MAX_MODEL_DATA_BYTES)",
                "INFERPIPE_MAX_MODEL_DATA_BYTES",
            )
        fd = hostpaths.open_regular(real, f"Model data at {url}")
        with os.fdopen(fd, "rb") as fh:
            digest = _Hashing(fh).drain()
            name = f"tar-{digest}"
            if (found := self.pin_existing(name)) is not None:
                return found
            with self._build_lock(name):
                if (found := self.pin_existing(name)) is not None:
                    return found
                fh.seek(0)
                reader = _Hashing(fh)
                with self._staging_dir(name) as (staging, root_fd):
                    extract(reader, root_fd, self.limits)  # type: ignore[arg-type]
                    if reader.drain() != digest:
                        raise ModelDataError(f"Model data at {url} changed while it was being extracted. Try again.")
                    return self._publish(name, staging)

    def _from_directory(self, url: str, real: Path) -> Path:
        src = hostpaths.open_dir(real)
        try:
            with self._staging_dir("dir") as (staging, root_fd):
                digest = copy_tree(src, root_fd, self.limits, url)
                return self._publish(f"dir-{digest}", staging)
        finally:
            os.close(src)


def copy_tree(src_fd: int, root_fd: int, limits: TreeLimits, url: str) -> str:
    """Copy the directory ``src_fd`` into ``root_fd`` without following symbolic links; return the
    digest of what was copied (names, kinds, executable bits, link targets, file contents)."""
    tree = TreeWriter(root_fd, limits)
    listing = hashlib.sha256()
    stack: list[tuple[str, int]] = [("", os.dup(src_fd))]
    try:
        while stack:
            rel, dfd = stack.pop()
            try:
                with os.scandir(dfd) as it:
                    names = sorted(e.name for e in it)
                for name in names:
                    relname = f"{rel}{name}"
                    st = hostpaths.lstat_at(dfd, name)
                    mode = st.st_mode
                    if stat.S_ISDIR(mode):
                        tree.directory(relname)
                        listing.update(b"D\0" + relname.encode() + b"\0")
                        child = os.open(name, DIR_FLAGS, dir_fd=dfd)
                        stack.append((f"{relname}/", child))
                    elif stat.S_ISREG(mode):
                        fd = hostpaths.open_regular_at(dfd, name, f"'{relname}' in the model data")
                        with os.fdopen(fd, "rb") as fh:
                            content = _Hashing(fh)
                            tree.file(relname, content, mode, st.st_size)
                        x = b"x" if mode & stat.S_IXUSR else b"-"
                        listing.update(b"F\0" + relname.encode() + b"\0" + x + content.hash.digest())
                    elif stat.S_ISLNK(mode):
                        target = os.readlink(name, dir_fd=dfd)
                        tree.symlink(relname, target)
                        listing.update(b"L\0" + relname.encode() + b"\0" + target.encode() + b"\0")
                    else:
                        raise TreeRefused(
                            f"'{relname}' is {kind_of(mode)}: only regular files, directories and links inside"
                            " the directory are accepted"
                        )
            finally:
                os.close(dfd)
    except BaseException:
        for _rel, fd in stack:
            os.close(fd)
        raise
    tree.finish()
    return listing.hexdigest()
