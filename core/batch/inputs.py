"""Where a transform job's data lives: S3 URIs as local paths, the input files, their outputs.
Design notes: docs/batch-transform.md."""

from __future__ import annotations

import gzip
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from inferpipe.core.batch.records import read_into
from inferpipe.core.containers import hostpaths
from inferpipe.core.containers.hostpaths import HostPathPolicy, PathRefused, confined_key, inside, kind_of
from inferpipe.core.errors import ValidationException
from inferpipe.core.s3.uri import S3Uri

PARTIAL_SUFFIX = ".partial"


class InputError(Exception):
    """The job's input cannot be read as described; the message is the job's FailureReason."""


def local_path(uri: str, member: str) -> Path:
    """The local path an S3Uri / S3OutputPath names, or a ValidationException saying why not."""
    return Path(_local_text(uri, member))


def _local_text(uri: str, member: str) -> str:
    if uri.startswith(("s3://", "https://", "http://")):
        raise ValidationException(
            f"{member} {uri!r} is not a local path, and inferpipe reads no http(s):// URLs. Give an s3://bucket/key"
            " URI, an absolute path (/data/in/) or a file:// URL (file:///data/in/)."
        )
    text = uri
    if text.startswith("file://"):
        text = unquote(text[len("file://") :])
        if text.startswith("localhost/"):
            text = text[len("localhost") :]
    if not text.startswith("/"):
        raise ValidationException(
            f"{member} {uri!r} must be an absolute local path or a file:// URL with an absolute path: the daemon"
            " does not share your working directory (the inferpipe CLI makes relative paths absolute)."
        )
    return text


@dataclass(frozen=True)
class InputFile:
    path: Path  # the resolved local file; for an S3 object, its URI (only shown, never opened)
    relative: str  # POSIX path of the output key, relative to S3OutputPath (without ".out")
    size: int
    s3: S3Uri | None = None  # set for an S3 object (s3data.py)


def allowed(uri: str, member: str, policy: HostPathPolicy) -> Path:
    """The resolved local path of an S3Uri / S3OutputPath, or a ValidationException saying why not."""
    try:
        return policy.check(local_path(uri, member), member)
    except PathRefused as exc:
        raise ValidationException(str(exc)) from None


def job_path(uri: str, member: str, policy: HostPathPolicy) -> Path:
    """A running job's resolved S3Uri or S3OutputPath; an InputError if it is no longer allowed."""
    try:
        return allowed(uri, member, policy)
    except ValidationException as exc:
        raise InputError(f"ClientError: {exc.message}") from None


def output_root(uri: str, policy: HostPathPolicy) -> Path:
    return job_path(uri, "S3OutputPath", policy)


def check_input_exists(uri: str, data_type: str, policy: HostPathPolicy) -> None:
    path = allowed(uri, "TransformInput.DataSource.S3DataSource.S3Uri", policy)
    if data_type == "ManifestFile":
        if not path.is_file():
            raise ValidationException(f"The manifest file {uri!r} does not exist or is not a regular file.")
    elif not path.exists() and not path.parent.is_dir():
        raise ValidationException(f"No local file or directory matches the input prefix {uri!r}.")


def list_inputs(uri: str, data_type: str, policy: HostPathPolicy | None = None) -> list[InputFile]:
    """Every input file of the job, sorted by key. Runs in a worker thread (it walks directories)."""
    policy = policy or hostpaths.default_policy()
    path = job_path(uri, "S3Uri", policy)
    files = _from_manifest(path, uri, policy) if data_type == "ManifestFile" else _from_prefix(path, policy)
    if not files:
        raise InputError(
            f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that'
            " the directory exists and that files exist under that prefix."
        )
    return files


def _input_file(p: Path, key: str, base: Path) -> InputFile:
    """An input at ``p`` (its key, relative to the prefix, is ``key``): a regular file inside ``base``,
    the directory the prefix names, reached through links or not. Anything else fails the job,
    naming the key. The path kept is the resolved one, which is opened without following links."""
    real = Path(os.path.realpath(p))
    if not inside(real, base):
        raise InputError(f"ClientError: The input {key!r} leads outside the input prefix (to {real}).")
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        raise InputError(f"ClientError: The input {key!r} is a symbolic link to a missing file.") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"ClientError: The input {key!r} is {kind_of(st.st_mode)}: only regular files are read.")
    return InputFile(real, key, st.st_size)


def _walk(root: Path, base: Path) -> list[InputFile]:
    """Every file below ``root`` (keys relative to ``base``), without following links to directories."""
    found: list[InputFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            p = Path(dirpath) / name
            found.append(_input_file(p, p.relative_to(base).as_posix(), base))
    return found


def _from_prefix(path: Path, policy: HostPathPolicy) -> list[InputFile]:
    """``path`` is resolved (``allowed``): a directory, a file, or a key prefix within its parent, where
    every entry it matches must be allowed too (the prefix /e matches /etc)."""
    if path.is_dir():
        return _walk(path, path)
    if path.is_file():
        return [_input_file(path, path.name, path.parent)]
    if path.exists():
        raise InputError(f"ClientError: The input {str(path)!r} is {kind_of(os.lstat(path).st_mode)}.")
    parent, prefix = path.parent, path.name
    if not parent.is_dir():
        return []
    found: list[InputFile] = []
    for entry in sorted(parent.iterdir()):
        if not entry.name.startswith(prefix):
            continue
        try:
            policy.check(entry, "The input")
        except PathRefused as exc:
            raise InputError(f"ClientError: {exc}") from exc
        if entry.is_dir() and not entry.is_symlink():
            found.extend(_walk(entry, parent))
        else:
            found.append(_input_file(entry, entry.name, parent))
    return found


def manifest_entries(doc: object, name: str, example_prefix: str) -> tuple[str, list[str]]:
    """A parsed manifest's prefix and keys (`[{"prefix": P}, "key1", ...]`, wherever it was read from),
    or the job's ClientError naming the manifest file."""
    if (
        not isinstance(doc, list)
        or not doc
        or not isinstance(doc[0], dict)
        or not isinstance(doc[0].get("prefix"), str)
        or not all(isinstance(k, str) for k in doc[1:])
    ):
        raise InputError(
            f'ClientError: The manifest file {name} must be a JSON array: [{{"prefix": "{example_prefix}"}}, "key1",'
            ' "key2", ...].'
        )
    return doc[0]["prefix"], doc[1:]


def _from_manifest(path: Path, uri: str, policy: HostPathPolicy) -> list[InputFile]:
    try:
        with os.fdopen(hostpaths.open_regular(path, f"The manifest file {uri!r}"), "rb") as fh:
            doc = json.loads(fh.read())
    except PathRefused as exc:
        raise InputError(f"ClientError: {exc}") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"ClientError: Cannot read the manifest file {uri!r}: {exc}") from exc
    text, keys = manifest_entries(doc, repr(uri), "file:///data/")
    try:
        prefix = _local_text(text, "the manifest prefix")
        # the directory keys are confined to: the prefix itself, or the one holding a key prefix
        base = policy.check(Path(prefix if prefix.endswith("/") else os.path.dirname(prefix)), "The manifest prefix")
    except ValidationException as exc:
        raise InputError(f"ClientError: {exc.message}") from exc
    except PathRefused as exc:
        raise InputError(f"ClientError: {exc}") from exc
    found: list[InputFile] = []
    for key in keys:
        try:
            confined_key(key, f"The manifest file {uri!r} lists the key")
        except PathRefused as exc:
            raise InputError(f"ClientError: {exc}") from exc
        p = Path(prefix + key)  # S3 semantics: the key is appended to the prefix as text
        if not os.path.lexists(p):
            raise InputError(f"ClientError: The manifest file {uri!r} lists {key!r}, but {p} is not a file.")
        if not inside(Path(os.path.realpath(p)), base):
            raise InputError(
                f"ClientError: The manifest file {uri!r} lists {key!r}, which leads outside the manifest prefix"
                f" {prefix!r}."
            )
        found.append(_input_file(p, key.lstrip("/"), base))
    return found


def output_file(output_dir: Path, f: InputFile) -> Path:
    return output_dir / (f.relative + ".out")


def partial_file(final: Path, job: str) -> Path:
    """The hidden temporary name an output is written to; the job name lets a restarted daemon find it."""
    return final.with_name(f".{final.name}.{job.lower()}{PARTIAL_SUFFIX}")


def remove_partials(output_dir: Path, job: str) -> int:
    """Delete the job's temporary outputs (after a failure, a stop or a daemon crash)."""
    suffix = f".{job.lower()}{PARTIAL_SUFFIX}"
    removed = 0
    if not output_dir.is_dir():
        return 0
    for dirpath, _dirs, filenames in os.walk(output_dir):
        for name in filenames:
            if name.startswith(".") and name.endswith(suffix):
                try:
                    (Path(dirpath) / name).unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


class CountingReader:
    """A binary file that counts the bytes read from disk (compressed bytes for Gzip input), for progress."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0
        self.mode = "rb"

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Straight into the caller's buffer where the file can (records.iter_line_batches)."""
        n = read_into(self.raw, buffer)
        self.count += n
        return n

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()


def open_input(path: Path, compression: str) -> tuple[BinaryIO, CountingReader]:
    """The decompressed stream to split, and the counter of bytes read from disk. ``path`` is resolved;
    it is reached without following links and only opened if it is a regular file."""
    try:
        fd = hostpaths.open_regular(path, f"The input {path}")
    except PathRefused as exc:
        raise OSError(str(exc)) from exc
    return decompressed(os.fdopen(fd, "rb"), compression)


def decompressed(raw: BinaryIO, compression: str) -> tuple[BinaryIO, CountingReader]:
    """``raw`` (a file or an S3 object's stream) as the stream to split, and its byte counter."""
    counter = CountingReader(raw)
    if compression == "Gzip":
        return gzip.GzipFile(fileobj=counter, mode="rb"), counter  # type: ignore[arg-type]
    return counter, counter  # type: ignore[return-value]
