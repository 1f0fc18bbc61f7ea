"""A transform job's data capture, as SageMaker writes it: rather than copies of the data, two
manifests (the ManifestFile format: a prefix, then keys) under the destination, ``input/`` naming
the inputs the job transformed and ``output/`` the outputs it wrote, each below the UTC hour the
job started (``yyyy/mm/dd/hh``), so Model Monitor finds the data of a given hour. A job whose data is
on S3 gets manifests of s3:// URIs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from inferpipe.core.capture.sink import CaptureSink
from inferpipe.core.capture.writer import hour_path
from inferpipe.core.s3.uri import S3Uri

# A transformed file: a local path, or an object when the job's input or output is on S3.
Location = Path | S3Uri


def manifest(prefix: Path, paths: Sequence[Path]) -> bytes:
    """``[{"prefix": "file:///dir/"}, "key", ...]`` with each path a key below ``prefix``."""
    keys = [p.relative_to(prefix).as_posix() for p in paths]
    return _document(prefix.as_uri().rstrip("/") + "/", keys)


def _document(prefix: str, keys: Sequence[str]) -> bytes:
    return json.dumps([{"prefix": prefix}, *keys], indent=1).encode() + b"\n"


def s3_manifest(objects: Sequence[S3Uri]) -> bytes:
    """``[{"prefix": "s3://bucket/dir/"}, "key", ...]``: the prefix is the objects' deepest common
    "directory", and prefix + key is each object's URI exactly (compared segment by segment, as text,
    since S3 keys are not paths: ``a//b`` stays ``a//b``)."""
    buckets = {o.bucket for o in objects}
    if len(buckets) != 1:
        raise ValueError(f"the objects of one manifest are in one bucket, not {sorted(buckets)}")
    dirs = [o.key.split("/")[:-1] for o in objects]
    common: list[str] = []
    for parts in zip(*dirs, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    base = "".join(f"{segment}/" for segment in common)
    return _document(f"s3://{objects[0].bucket}/{base}", [o.key[len(base) :] for o in objects])


def manifest_of(locations: Sequence[Location]) -> bytes:
    """The manifest of a job's inputs (or outputs): all local files, or all objects on S3."""
    objects = [loc for loc in locations if isinstance(loc, S3Uri)]
    if objects:
        if len(objects) != len(locations):
            raise ValueError("a manifest lists local files or S3 objects, not both")
        return s3_manifest(objects)
    paths = [loc for loc in locations if isinstance(loc, Path)]
    return manifest(common_dir(paths), paths)


def common_dir(paths: Sequence[Path]) -> Path:
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def write_batch_capture(
    sink: CaptureSink, started: float, inputs: Sequence[Location], outputs: Sequence[Location]
) -> list[str]:
    """Write the input and output manifests of a job's transformed files; returns their keys. Nothing
    is written for a job that transformed no file."""
    if not inputs:
        return []
    name = f"{uuid.uuid4()}.jsonl"
    written = []
    for kind, paths in (("input", inputs), ("output", outputs)):
        key = f"{kind}/{hour_path(started)}/{name}"
        sink.append(key, manifest_of(paths))
        sink.finish(key)
        written.append(key)
    return written
