"""The home directory ($INFERPIPE_HOME) as private storage: owner-only modes, and one clear line
when it cannot be used. Design notes: docs/security.md."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import BinaryIO

from inferpipe.core.config import Settings
from inferpipe.core.credentials import write_atomic

log = logging.getLogger("inferpipe.home")

# The process-wide umask of the daemon: whatever it creates (SQLite's -wal and -shm, the lock, a
# transform's temporary files) starts owner-only, with no chmod to forget.
DAEMON_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class HomeProblem(Exception):
    """The home cannot be used; the message says what is wrong, with which path, and what to do."""


def home_problem(settings: Settings, exc: OSError) -> HomeProblem:
    where = exc.filename or settings.home
    return HomeProblem(
        f"Cannot use the inferpipe home {settings.home}: {exc.strerror or exc} ({where})."
        f" Make it writable by this user (uid {os.getuid()}) or set INFERPIPE_HOME to another directory."
    )


def ensure_home(settings: Settings) -> None:
    """Create the home owner-only if it is missing. Raises HomeProblem."""
    try:
        settings.home.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    except OSError as exc:
        raise home_problem(settings, exc) from None
    if not settings.home.is_dir():
        raise HomeProblem(f"The inferpipe home {settings.home} is not a directory. Set INFERPIPE_HOME to a directory.")


def secure_home(settings: Settings) -> None:
    """Tighten the files the daemon keeps in the home to owner-only, and warn when the home itself
    lets other users in. Never widens a mode (a read-only file stays read-only)."""
    home = settings.home
    st = home.stat()
    if st.st_mode & 0o077:
        log.warning(
            "the inferpipe home %s is open to other users (mode %s); its files are kept owner-only,"
            " but run `chmod 700 %s` to close the directory too",
            home,
            oct(stat.S_IMODE(st.st_mode)),
            home,
        )
    db = settings.db_path
    private = (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), settings.log_path, settings.pid_path)
    for path in (db, *private, settings.lock_path, settings.identity_path):
        tighten(path)
    tighten(settings.model_cache)


def tighten(path: Path) -> None:
    """Remove the group and other bits from a path we own; leave anything else alone."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        return
    current = stat.S_IMODE(st.st_mode)
    if current & 0o077:
        os.chmod(path, current & ~0o077)


def open_private(path: Path, settings: Settings) -> BinaryIO:
    """A file of the home, emptied and opened for writing, owner-only. Raises HomeProblem."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    except OSError as exc:
        raise home_problem(settings, exc) from None
    tighten(path)
    return os.fdopen(fd, "wb")


def write_private(path: Path, text: str) -> None:
    """Write a small file owner-only and atomically (a reader never sees half of it)."""
    write_atomic(path, text, PRIVATE_FILE)
