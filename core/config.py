"""Where the daemon keeps its state and how it is reached, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8765
DEFAULT_REGION = "us-east-1"
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


@dataclass(frozen=True)
class Settings:
    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    region: str = DEFAULT_REGION
    account: str = ACCOUNT_ID
    # HTTP limits (core/http_limits.py): what one client can hold of the daemon.
    max_connections: int = 256
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 30.0
    control_plane_max_body: int = 1 * MiB

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"INFERPIPE_PORT={self.port} is out of range: expected an integer from 1 to 65535.")

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("INFERPIPE_HOME") or Path.home() / ".inferpipe").expanduser()
        return cls(
            home=home.resolve(),
            host=os.environ.get("INFERPIPE_HOST", "127.0.0.1"),
            port=env_int("INFERPIPE_PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            region=os.environ.get("INFERPIPE_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            max_connections=env_int("INFERPIPE_MAX_CONNECTIONS", 256, minimum=1),
            header_timeout=env_seconds("INFERPIPE_HEADER_TIMEOUT", 10.0),
            body_timeout=env_seconds("INFERPIPE_BODY_TIMEOUT", 30.0),
            keepalive_timeout=env_seconds("INFERPIPE_KEEPALIVE_TIMEOUT", 30.0),
            control_plane_max_body=env_int("INFERPIPE_CONTROL_PLANE_MAX_BODY", 1 * MiB, minimum=64 * 1024),
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
