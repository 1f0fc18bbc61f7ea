"""A transform job's data capture, as SageMaker writes it: rather than copies of the data, two
manifests (the ManifestFile format: a prefix, then keys) under the destination, ``input/`` naming
the inputs the job transformed and ``output/`` the outputs it wrote, each below the UTC hour the
job started (``yyyy/mm/dd/hh``), so Model Monitor finds the data of a given hour."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from inferpipe.core.capture.sink import CaptureSink
from inferpipe.core.capture.writer import hour_path


def manifest(prefix: Path, paths: Sequence[Path]) -> bytes:
    """``[{"prefix": "file:///dir/"}, "key", ...]`` with each path a key below ``prefix``."""
    keys = [p.relative_to(prefix).as_posix() for p in paths]
    return json.dumps([{"prefix": prefix.as_uri().rstrip("/") + "/"}, *keys], indent=1).encode() + b"\n"


def common_dir(paths: Sequence[Path]) -> Path:
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def write_batch_capture(
    sink: CaptureSink, started: float, inputs: Sequence[Path], outputs: Sequence[Path]
) -> list[str]:
    """Write the input and output manifests of a job's transformed files; returns their keys. Nothing
    is written for a job that transformed no file."""
    if not inputs:
        return []
    name = f"{uuid.uuid4()}.jsonl"
    written = []
    for kind, paths in (("input", inputs), ("output", outputs)):
        key = f"{kind}/{hour_path(started)}/{name}"
        sink.append(key, manifest(common_dir(paths), paths))
        sink.finish(key)
        written.append(key)
    return written
