"""Where the daemon keeps its state and how it is reached, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8765
DEFAULT_REGION = "us-east-1"
DEFAULT_STOP_GRACE = 30.0  # SageMaker: SIGTERM, then SIGKILL 30 s later
ACCOUNT_ID = "000000000000"
MiB = 1024 * 1024


class ConfigError(ValueError):
    """An INFERPIPE_* setting is unusable. The message names the variable, its value and what is
    allowed, so it can be shown to the user as it is."""


def env_int(name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    allowed = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer of at least {minimum}"
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not valid: expected {allowed}.") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name}={raw} is out of range: expected {allowed}.")
    return value


def env_seconds(name: str, default: float, *, minimum: float = 0.1) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not valid: expected a number of seconds.") from None
    if not value >= minimum or value == float("inf"):  # also refuses nan
        raise ConfigError(f"{name}={raw} is out of range: expected a number of seconds of at least {minimum}.")
    return value


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


def _csv(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


# Model data is copied or extracted into the cache: these bound one model's copy. 20 GiB holds the
# weights of a 7-billion-parameter model in 16-bit floats with room to spare while leaving a small
# disk usable; real models have at most a few thousand files, and 100,000 extract in about 30 s.
DEFAULT_MAX_MODEL_DATA_BYTES = 20 * 1024**3
DEFAULT_MAX_MODEL_DATA_MEMBERS = 100_000
# A transform job's manifest on S3 is read whole; millions of keys fit in 64 MiB.
DEFAULT_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
# Threads count as pids: a model server with a few workers of a few dozen threads each fits easily,
# a fork bomb does not.
DEFAULT_CONTAINER_PIDS = 4096
# 8 MiB parts: boto3's own default; S3 allows 5 MiB to 5 GiB and at most 10,000 parts (80 GB here).
DEFAULT_S3_PART_SIZE = 8 * MiB
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


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
    auth: str = "sigv4"  # INFERPIPE_AUTH: sigv4 | none (core/api/guard.py refuses anything else)
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides loopback ones
    allowed_origins: tuple[str, ...] = ()  # browser Origins allowed (with CORS); none by default
    # HTTP limits (core/http_limits.py): what one client can hold of the daemon.
    max_connections: int = 256
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 30.0
    control_plane_max_body: int = 1 * MiB
    # Data capture (core/capture/): the writer's memory bound, its file rotation size and batch window.
    capture_buffer_bytes: int = 64 * MiB
    capture_max_file_bytes: int = 64 * MiB
    capture_flush_seconds: float = 1.0
    capture_s3_file_seconds: float = 60.0  # an s3:// capture file is uploaded at most this long after it opened

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"INFERPIPE_PORT={self.port} is out of range: expected an integer from 1 to 65535.")

    # host paths, model data and containers (hostpaths.py, archive.py, instance_types.py)
    allowed_roots: tuple[Path, ...] | None = None  # None: anywhere outside the system trees
    max_model_data_bytes: int = DEFAULT_MAX_MODEL_DATA_BYTES
    max_model_data_members: int = DEFAULT_MAX_MODEL_DATA_MEMBERS
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    container_memory: int | None = None  # None: derived from the instance type
    container_pids: int = DEFAULT_CONTAINER_PIDS
    # S3 (core/s3/): all optional; unset, boto3's standard AWS configuration decides
    s3_profile: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_session_token: str | None = None
    s3_max_connections: int = 10
    s3_part_size: int = DEFAULT_S3_PART_SIZE
    s3_connect_timeout: float = 10.0
    s3_read_timeout: float = 60.0
    image_pull: str = "never"  # INFERPIPE_IMAGE_PULL: never | missing | always (containers/images.py)
    container_s3: bool = False  # INFERPIPE_CONTAINER_S3: containers get inferpipe's S3 endpoint and credentials
    # invoke --trace (serving/step_trace.py): body preview per hop, traces kept for fetching
    trace_preview_bytes: int = 1024
    trace_keep: int = 100
    # logs of stopped containers kept on disk (containers/log_archive.py); 0 keeps none
    retained_log_bytes: int = 64 * MiB
    # allocations at least this large are mapped on their own and unmapped on free (memory.py); 0: glibc's
    malloc_mmap_threshold: int = 0

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("INFERPIPE_HOME") or Path.home() / ".inferpipe").expanduser()
        return cls(
            home=home.resolve(),
            host=os.environ.get("INFERPIPE_HOST", "127.0.0.1"),
            port=env_int("INFERPIPE_PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            region=os.environ.get("INFERPIPE_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            stop_grace=env_seconds("INFERPIPE_STOP_GRACE", DEFAULT_STOP_GRACE, minimum=0),
            max_instances_per_variant=env_int(
                "INFERPIPE_MAX_INSTANCES_PER_VARIANT", DEFAULT_MAX_INSTANCES_PER_VARIANT, minimum=1
            ),
            max_instances_per_endpoint=env_int(
                "INFERPIPE_MAX_INSTANCES_PER_ENDPOINT", DEFAULT_MAX_INSTANCES_PER_ENDPOINT, minimum=1
            ),
            max_instances=env_int("INFERPIPE_MAX_INSTANCES", DEFAULT_MAX_INSTANCES, minimum=1),
            # well below Python's recursion limit, which the walks of a request must never reach
            max_request_depth=env_int("INFERPIPE_MAX_REQUEST_DEPTH", DEFAULT_MAX_REQUEST_DEPTH, minimum=2, maximum=200),
            log_max_bytes=env_int("INFERPIPE_LOG_MAX_BYTES", DEFAULT_LOG_MAX_BYTES, minimum=1024),
            # at least 1: with no backup file, RotatingFileHandler never rolls over and the log grows
            log_backups=env_int("INFERPIPE_LOG_BACKUPS", DEFAULT_LOG_BACKUPS, minimum=1),
            log_stderr=os.environ.get("INFERPIPE_LOG_STDERR", "1").strip() not in ("0", "false", "no"),
            auth=(os.environ.get("INFERPIPE_AUTH") or "sigv4").strip().lower(),
            allowed_hosts=_csv("INFERPIPE_ALLOWED_HOSTS"),
            allowed_origins=_csv("INFERPIPE_ALLOWED_ORIGINS"),
            max_connections=env_int("INFERPIPE_MAX_CONNECTIONS", 256, minimum=1),
            header_timeout=env_seconds("INFERPIPE_HEADER_TIMEOUT", 10.0),
            body_timeout=env_seconds("INFERPIPE_BODY_TIMEOUT", 30.0),
            keepalive_timeout=env_seconds("INFERPIPE_KEEPALIVE_TIMEOUT", 30.0),
            control_plane_max_body=env_int("INFERPIPE_CONTROL_PLANE_MAX_BODY", 1 * MiB, minimum=64 * 1024),
            capture_buffer_bytes=_size("INFERPIPE_CAPTURE_BUFFER_BYTES", 64 * MiB) or 0,
            capture_max_file_bytes=_size("INFERPIPE_CAPTURE_MAX_FILE_BYTES", 64 * MiB) or 0,
            capture_flush_seconds=env_seconds("INFERPIPE_CAPTURE_FLUSH_SECONDS", 1.0, minimum=0.01),
            capture_s3_file_seconds=env_seconds("INFERPIPE_CAPTURE_S3_FILE_SECONDS", 60.0, minimum=0.01),
            allowed_roots=_roots(os.environ.get("INFERPIPE_ALLOWED_ROOTS")),
            max_model_data_bytes=_size("INFERPIPE_MAX_MODEL_DATA_BYTES", DEFAULT_MAX_MODEL_DATA_BYTES) or 0,
            max_model_data_members=_count("INFERPIPE_MAX_MODEL_DATA_MEMBERS", DEFAULT_MAX_MODEL_DATA_MEMBERS),
            max_manifest_bytes=_size("INFERPIPE_MAX_MANIFEST_BYTES", DEFAULT_MAX_MANIFEST_BYTES)
            or DEFAULT_MAX_MANIFEST_BYTES,
            container_memory=_size("INFERPIPE_CONTAINER_MEMORY", None),
            container_pids=_count("INFERPIPE_CONTAINER_PIDS", DEFAULT_CONTAINER_PIDS),
            **_s3_from_env(),
            trace_preview_bytes=env_int("INFERPIPE_TRACE_PREVIEW_BYTES", 1024, minimum=0, maximum=64 * 1024),
            trace_keep=env_int("INFERPIPE_TRACE_KEEP", 100, minimum=1, maximum=10_000),
            retained_log_bytes=0
            if os.environ.get("INFERPIPE_RETAINED_LOG_BYTES", "").strip() == "0"
            else _size("INFERPIPE_RETAINED_LOG_BYTES", 64 * MiB) or 0,
            malloc_mmap_threshold=env_int(
                "INFERPIPE_MALLOC_MMAP_THRESHOLD",
                0,
                minimum=0,
                maximum=32 * MiB,  # glibc's maximum
            ),
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
    def identity_path(self) -> Path:
        return self.home / "daemon.json"

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
        raise ConfigError(f"INFERPIPE_ALLOWED_ROOTS must list absolute paths separated by ':' (got {got}).")
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
        raise ConfigError(f"{name}={raw!r} must be {kind}.")
    return int(number) * _SIZE_UNITS[unit]


def _count(name: str, default: int) -> int:
    return _size(name, default, units=False) or default


def _s3_from_env() -> dict[str, object]:
    def opt(name: str) -> str | None:
        return os.environ.get(name, "").strip() or None

    key, secret = opt("INFERPIPE_S3_ACCESS_KEY_ID"), opt("INFERPIPE_S3_SECRET_ACCESS_KEY")
    if bool(key) != bool(secret):
        raise ConfigError(
            "INFERPIPE_S3_ACCESS_KEY_ID and INFERPIPE_S3_SECRET_ACCESS_KEY go together: set both, or neither"
            " (then INFERPIPE_S3_PROFILE or the standard AWS configuration gives the S3 credentials)."
        )
    if key and opt("INFERPIPE_S3_PROFILE"):
        raise ConfigError("Set INFERPIPE_S3_PROFILE or INFERPIPE_S3_ACCESS_KEY_ID, not both.")
    part = _size("INFERPIPE_S3_PART_SIZE", DEFAULT_S3_PART_SIZE) or DEFAULT_S3_PART_SIZE
    if not 5 * MiB <= part <= 5 * 1024**3:
        raise ConfigError(f"INFERPIPE_S3_PART_SIZE={part} is out of range: S3 parts are 5 MiB to 5 GiB.")
    return {
        "s3_profile": opt("INFERPIPE_S3_PROFILE"),
        "s3_endpoint_url": opt("INFERPIPE_S3_ENDPOINT_URL"),
        "s3_region": opt("INFERPIPE_S3_REGION"),
        "s3_access_key_id": key,
        "s3_secret_access_key": secret,
        "s3_session_token": opt("INFERPIPE_S3_SESSION_TOKEN"),
        "s3_max_connections": env_int("INFERPIPE_S3_MAX_CONNECTIONS", 10, minimum=1, maximum=1000),
        "s3_part_size": part,
        "s3_connect_timeout": env_seconds("INFERPIPE_S3_CONNECT_TIMEOUT", 10.0),
        "s3_read_timeout": env_seconds("INFERPIPE_S3_READ_TIMEOUT", 60.0),
        "image_pull": _choice("INFERPIPE_IMAGE_PULL", "never", ("never", "missing", "always")),
        "container_s3": _choice("INFERPIPE_CONTAINER_S3", "0", ("0", "1")) == "1",
    }


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid: expected one of {', '.join(allowed)}.")
    return value
