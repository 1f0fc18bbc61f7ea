"""Model artifacts: resolve a ModelDataUrl to a host directory to mount at /opt/ml/model.

A directory is mounted as it is. A .tar.gz is extracted once into a cache keyed by the
archive's content hash, after refusing anything that could escape the extraction directory
(a tarball is untrusted input: it may come from anywhere).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import threading
import urllib.parse
from pathlib import Path


class ModelDataError(Exception):
    pass


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


def check_exists(url: str) -> Path:
    path = local_path(url)
    if not path.exists():
        raise ModelDataError(f"Could not find model data at {url}.")
    if path.is_file() and not (path.name.endswith(".tar.gz") or path.name.endswith(".tgz")):
        raise ModelDataError(f"Model data at {url} must be a gzip compressed tar archive (.tar.gz) or a directory.")
    return path


class ModelCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def materialize(self, url: str) -> Path:
        """The host directory holding the model data, extracting a tarball on first use."""
        path = check_exists(url)
        if path.is_dir():
            return path.resolve()
        digest = _sha256(path)
        target = self.root / digest
        with self._lock:
            if target.is_dir():
                return target
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=self.root))
            try:
                safe_extract(path, staging, url)
                open_directories(staging)
                staging.rename(target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return target

    def is_cached(self, path: Path) -> bool:
        return path.parent == self.root

    def collect(self, in_use: set[Path]) -> list[Path]:
        """Remove extracted copies no live fleet mounts any more."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        with self._lock:
            for entry in self.root.iterdir():
                if entry.is_dir() and entry not in in_use and not entry.name.startswith("."):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
        return removed


def open_directories(root: Path) -> None:
    """Make every directory of an extracted copy 0755. Containers read /opt/ml/model as their own
    user, often not the daemon's, and the tar "data" filter drops directory modes, so directories
    would otherwise be created under the daemon's owner-only umask. Files keep the archive's modes.
    The cache directory above the copies stays 0700: a bind mount does not traverse it."""
    os.chmod(root, 0o755)
    for parent, dirs, _files in os.walk(root):
        for name in dirs:
            path = os.path.join(parent, name)
            if not os.path.islink(path):  # a link's target is a directory of the copy, chmodded on its own
                os.chmod(path, 0o755)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def safe_extract(archive: Path, dest: Path, url: str) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                problem = _member_problem(m)
                if problem:
                    raise ModelDataError(f"Refusing model data at {url}: member '{m.name}' {problem}.")
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelDataError(f"Could not extract model data at {url}: {exc}") from exc


def _escapes(name: str) -> bool:
    if name.startswith("/") or os.path.isabs(name):
        return True
    return ".." in Path(name).parts


def _member_problem(m: tarfile.TarInfo) -> str | None:
    if _escapes(m.name):
        return "has an absolute path or leads outside the archive"
    if m.ischr() or m.isblk() or m.isfifo() or m.isdev():
        return "is a device or FIFO"
    if m.issym():
        target = os.path.normpath(os.path.join(os.path.dirname(m.name), m.linkname))
        if os.path.isabs(m.linkname) or target.startswith(".."):
            return f"is a link leading outside the archive ({m.linkname})"
    if m.islnk() and _escapes(m.linkname):
        return f"is a hard link leading outside the archive ({m.linkname})"
    return None
