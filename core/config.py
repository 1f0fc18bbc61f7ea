"""Where the daemon keeps its state and how it is reached, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8765
DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
# Model data is copied or extracted into the cache: these bound one model's copy. 20 GiB holds the
# weights of a 7-billion-parameter model in 16-bit floats with room to spare while leaving a small
# disk usable; real models have at most a few thousand files, and 100,000 extract in about 30 s.
DEFAULT_MAX_MODEL_DATA_BYTES = 20 * 1024**3
DEFAULT_MAX_MODEL_DATA_MEMBERS = 100_000
# Threads count as pids: a model server with a few workers of a few dozen threads each fits easily,
# a fork bomb does not.
DEFAULT_CONTAINER_PIDS = 4096
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class Settings:
    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    region: str = DEFAULT_REGION
    account: str = ACCOUNT_ID
    # host paths, model data and containers (hostpaths.py, archive.py, instance_types.py)
    allowed_roots: tuple[Path, ...] | None = None  # None: anywhere outside the system trees
    max_model_data_bytes: int = DEFAULT_MAX_MODEL_DATA_BYTES
    max_model_data_members: int = DEFAULT_MAX_MODEL_DATA_MEMBERS
    container_memory: int | None = None  # None: derived from the instance type
    container_pids: int = DEFAULT_CONTAINER_PIDS

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("INFERPIPE_HOME") or Path.home() / ".inferpipe").expanduser()
        return cls(
            home=home.resolve(),
            host=os.environ.get("INFERPIPE_HOST", "127.0.0.1"),
            port=int(os.environ.get("INFERPIPE_PORT", DEFAULT_PORT)),
            region=os.environ.get("INFERPIPE_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            allowed_roots=_roots(os.environ.get("INFERPIPE_ALLOWED_ROOTS")),
            max_model_data_bytes=_size("INFERPIPE_MAX_MODEL_DATA_BYTES", DEFAULT_MAX_MODEL_DATA_BYTES) or 0,
            max_model_data_members=_count("INFERPIPE_MAX_MODEL_DATA_MEMBERS", DEFAULT_MAX_MODEL_DATA_MEMBERS),
            container_memory=_size("INFERPIPE_CONTAINER_MEMORY", None),
            container_pids=_count("INFERPIPE_CONTAINER_PIDS", DEFAULT_CONTAINER_PIDS),
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.home / "state.db"

    @property
    def log_path(self) -> Path:
        return self.home / "daemon.log"

    @property
    def pid_path(self) -> Path:
        return self.home / "daemon.pid"

    @property
    def lock_path(self) -> Path:
        return self.home / "daemon.lock"

    @property
    def model_cache(self) -> Path:
        return self.home / "model-cache"

    @property
    def home_id(self) -> str:
        """A short stable id for this home, put on every container so two homes never adopt each
        other's containers."""
        import hashlib

        return hashlib.sha256(str(self.home).encode()).hexdigest()[:12]


def _roots(raw: str | None) -> tuple[Path, ...] | None:
    if not raw or not raw.strip():
        return None
    roots = tuple(Path(p).expanduser() for p in raw.split(":") if p.strip())
    relative = [str(r) for r in roots if not r.is_absolute()]
    if relative:
        got = ", ".join(relative)
        raise ValueError(f"INFERPIPE_ALLOWED_ROOTS must list absolute paths separated by ':' (got {got}).")
    return roots


def _size(name: str, default: int | None, *, units: bool = True) -> int | None:
    """A positive count from the environment; with units, a byte size such as 512m, 20g or 20GiB."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    text = raw.lower().removesuffix("ib").removesuffix("b") if units else raw
    unit = text[-1:] if units and text[-1:] in _SIZE_UNITS else ""
    number = text[: len(text) - len(unit)]
    if not number.isdigit() or int(number) <= 0:
        kind = "a byte size such as 512m, 20g or 21474836480" if units else "a positive whole number"
        raise ValueError(f"{name}={raw!r} must be {kind}.")
    return int(number) * _SIZE_UNITS[unit]


def _count(name: str, default: int) -> int:
    return _size(name, default, units=False) or default
