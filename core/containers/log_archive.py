"""Container logs that outlive their containers: what a replaced or removed container printed,
kept on disk within one byte budget (oldest streams go first), and read back with the same stream
names as the live ones."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from inferpipe.core.containers import labels

ENDPOINT_KIND = "endpoint"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class StreamKey:
    """Which container printed a log: enough to name its stream as CloudWatch does."""

    owner_kind: str  # endpoint | transform-job
    owner: str
    variant: str
    instance_id: str
    hostname: str
    created: int  # the container's creation, epoch seconds (a transform job's stream carries it)

    @classmethod
    def from_labels(cls, lab: dict[str, str], created: int) -> StreamKey:
        return cls(
            lab.get(labels.OWNER_KIND, ""),
            lab.get(labels.OWNER, ""),
            lab.get(labels.VARIANT, ""),
            f"g{lab.get(labels.GENERATION, '0')}-i{lab.get(labels.INSTANCE, '0')}",
            lab.get(labels.CONTAINER_HOSTNAME, ""),
            created,
        )

    @property
    def stream_name(self) -> str:
        if self.owner_kind == ENDPOINT_KIND:
            return f"{self.variant}/{self.instance_id}/{self.hostname}"
        return f"{self.owner}/{self.instance_id}-{self.created}/{self.hostname}"

    def file_name(self) -> str:
        parts = (self.variant, self.instance_id, str(self.created), self.hostname)
        return "__".join(_SAFE.sub("-", p) for p in parts) + ".log"

    @classmethod
    def from_file(cls, kind: str, owner: str, name: str) -> StreamKey | None:
        parts = name.removesuffix(".log").split("__")
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        return cls(kind, owner, parts[0], parts[1], parts[3], int(parts[2]))


class LogArchive:
    """Files under root/<kind>/<owner>/, one per container, at most `budget` bytes in all."""

    def __init__(self, root: Path, budget: int) -> None:
        self.root = root
        self.budget = budget
        self._lock = threading.Lock()

    def _dir(self, kind: str, owner: str) -> Path:
        return self.root / _SAFE.sub("-", kind) / _SAFE.sub("-", owner)

    def keep(self, key: StreamKey, text: bytes) -> None:
        """Keeps the end of a container's log (timestamped lines), then trims the archive."""
        if self.budget <= 0 or not text:
            return
        if len(text) > self.budget:  # only the newest lines of a log larger than everything kept
            text = text[-self.budget :]
            text = text[text.find(b"\n") + 1 :]
        folder = self._dir(key.owner_kind, key.owner)
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            (folder / key.file_name()).write_bytes(text)
            self._trim()

    def _trim(self) -> None:
        files = []
        for path in self.root.glob("*/*/*.log"):
            with contextlib.suppress(OSError):
                st = path.stat()
                files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.budget:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
                with contextlib.suppress(OSError):
                    os.rmdir(path.parent)  # the owner's folder, once empty

    def streams(self, kind: str, owner: str) -> list[tuple[StreamKey, Path]]:
        folder = self._dir(kind, owner)
        out = []
        for path in sorted(folder.glob("*.log")) if folder.is_dir() else []:
            key = StreamKey.from_file(kind, owner, path.name)
            if key is not None:
                out.append((key, path))
        return out
