"""Where the daemon keeps its state and how it is reached, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8765
DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "000000000000"


def _csv(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    region: str = DEFAULT_REGION
    account: str = ACCOUNT_ID
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
