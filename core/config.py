"""Where the daemon keeps its state and how it is reached, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8765
DEFAULT_REGION = "us-east-1"
DEFAULT_STOP_GRACE = 30.0  # SageMaker: SIGTERM, then SIGKILL 30 s later
ACCOUNT_ID = "000000000000"

# Instance caps. A fleet instance is a whole container chain (up to 15 containers plus a holder),
# so one machine runs tens of them, not thousands. Per variant 10, per endpoint 20 (two full
# variants), and in total 40: twice the per-endpoint cap, so an endpoint at its cap can still be
# updated blue/green (the new fleet starts beside the old one before the old one goes).
DEFAULT_MAX_INSTANCES_PER_VARIANT = 10
DEFAULT_MAX_INSTANCES_PER_ENDPOINT = 20
DEFAULT_MAX_INSTANCES = 40
# The deepest request of any supported operation nests 7 levels (CreateModel); 32 leaves room
# for opaque structures while keeping every recursive walk of a request far from Python's limit.
DEFAULT_MAX_REQUEST_DEPTH = 32
DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_LOG_BACKUPS = 3


class SettingError(ValueError):
    """An INFERPIPE_* environment setting that cannot be used; the message names it."""


def _int_env(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise SettingError(f"{name} must be an integer {bounds}, not {raw!r}.")
    return value


def _csv(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    region: str = DEFAULT_REGION
    account: str = ACCOUNT_ID
    stop_grace: float = DEFAULT_STOP_GRACE
    max_instances_per_variant: int = DEFAULT_MAX_INSTANCES_PER_VARIANT
    max_instances_per_endpoint: int = DEFAULT_MAX_INSTANCES_PER_ENDPOINT
    max_instances: int = DEFAULT_MAX_INSTANCES
    max_request_depth: int = DEFAULT_MAX_REQUEST_DEPTH
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
    log_backups: int = DEFAULT_LOG_BACKUPS
    log_stderr: bool = True
    auth: str = "sigv4"  # INFERPIPE_AUTH: sigv4 | none (core/guard.py refuses anything else)
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides loopback ones
    allowed_origins: tuple[str, ...] = ()  # browser Origins allowed (with CORS); none by default

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("INFERPIPE_HOME") or Path.home() / ".inferpipe").expanduser()
        return cls(
            home=home.resolve(),
            host=os.environ.get("INFERPIPE_HOST", "127.0.0.1"),
            port=int(os.environ.get("INFERPIPE_PORT", DEFAULT_PORT)),
            region=os.environ.get("INFERPIPE_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            stop_grace=_seconds("INFERPIPE_STOP_GRACE", DEFAULT_STOP_GRACE),
            max_instances_per_variant=_int_env(
                "INFERPIPE_MAX_INSTANCES_PER_VARIANT", DEFAULT_MAX_INSTANCES_PER_VARIANT, 1
            ),
            max_instances_per_endpoint=_int_env(
                "INFERPIPE_MAX_INSTANCES_PER_ENDPOINT", DEFAULT_MAX_INSTANCES_PER_ENDPOINT, 1
            ),
            max_instances=_int_env("INFERPIPE_MAX_INSTANCES", DEFAULT_MAX_INSTANCES, 1),
            # well below Python's recursion limit, which the walks of a request must never reach
            max_request_depth=_int_env("INFERPIPE_MAX_REQUEST_DEPTH", DEFAULT_MAX_REQUEST_DEPTH, 2, 200),
            log_max_bytes=_int_env("INFERPIPE_LOG_MAX_BYTES", DEFAULT_LOG_MAX_BYTES, 1024),
            # at least 1: with no backup file, RotatingFileHandler never rolls over and the log grows
            log_backups=_int_env("INFERPIPE_LOG_BACKUPS", DEFAULT_LOG_BACKUPS, 1),
            log_stderr=os.environ.get("INFERPIPE_LOG_STDERR", "1").strip() not in ("0", "false", "no"),
            auth=(os.environ.get("INFERPIPE_AUTH") or "sigv4").strip().lower(),
            allowed_hosts=_csv("INFERPIPE_ALLOWED_HOSTS"),
            allowed_origins=_csv("INFERPIPE_ALLOWED_ORIGINS"),
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


def _seconds(variable: str, default: float) -> float:
    raw = os.environ.get(variable)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValueError(f"{variable} must be a number of seconds, 0 or more; it is {raw!r}.")
    return value
