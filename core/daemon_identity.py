"""Who the home's daemon is, so `inferpipe daemon stop` signals only that process.
Design notes: docs/security.md."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inferpipe.core.home import write_private

# The ways a daemon is started: `python -m inferpipe.core.daemon` (what the CLI and supervisors
# run) and `inferpipe daemon start --foreground`.
DAEMON_MODULE = "inferpipe.core.daemon"


@dataclass(frozen=True)
class DaemonIdentity:
    pid: int
    start_time: int
    port: int
    instance_id: str
    home: str

    @classmethod
    def of_this_process(cls, port: int, home: Path) -> DaemonIdentity:
        pid = os.getpid()
        return cls(pid, process_start_time(pid) or 0, port, secrets.token_hex(16), str(home))

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self)) + "\n")

    @classmethod
    def load(cls, path: Path) -> DaemonIdentity | None:
        """The record in the home, or None when there is none or it is not one of ours."""
        try:
            data: Any = json.loads(path.read_text())
            return cls(
                pid=int(data["pid"]),
                start_time=int(data["start_time"]),
                port=int(data["port"]),
                instance_id=str(data["instance_id"]),
                home=str(data["home"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def is_running(self) -> bool:
        """True while the recorded process is alive: the same pid with the same start time, running
        an inferpipe daemon. Where /proc is missing nothing can be verified, so nothing is."""
        if self.pid <= 0 or not self.start_time:
            return False
        return process_start_time(self.pid) == self.start_time and is_daemon_command(process_command(self.pid))

    def answered_by(self, status: dict[str, Any] | None) -> bool:
        """Whether a /ping answer comes from this very daemon: only it knows the random instance id
        kept in the home's owner-only record."""
        if not status:
            return False
        return status.get("instanceId") == self.instance_id

    def remove_if_mine(self, path: Path) -> None:
        if DaemonIdentity.load(path) == self:
            path.unlink(missing_ok=True)


def process_start_time(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), which
    together with the pid names one process for the whole uptime of the machine. None when the
    process is gone, a zombie, or /proc is missing."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
    fields = raw[raw.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_command(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_daemon_command(argv: list[str]) -> bool:
    if DAEMON_MODULE in argv:
        return True
    names = [os.path.basename(a) for a in argv]
    return "inferpipe" in names and "daemon" in argv and "start" in argv and "--foreground" in argv
