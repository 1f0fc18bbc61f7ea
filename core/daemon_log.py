"""The daemon's log: where it goes, how big it may grow, and how it is read back.
Design notes: docs/daemon.md."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from inferpipe.core.config import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STDERR_NAME = "daemon.stderr"
MAX_FIELD = 300  # characters of caller-supplied text in one log line

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def stderr_path(settings: Settings) -> Path:
    """Where a detached daemon's stdout and stderr go (crashes before logging starts)."""
    return settings.home / STDERR_NAME


def configure(settings: Settings) -> logging.Handler:
    """Send the daemon's logging to its rotating log file (and stderr in the foreground)."""
    handler = logging.handlers.RotatingFileHandler(
        settings.log_path,
        maxBytes=settings.log_max_bytes,
        backupCount=settings.log_backups,
        encoding="utf-8",
        errors="backslashreplace",
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    handlers: list[logging.Handler] = [handler]
    if settings.log_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=os.environ.get("INFERPIPE_LOG_LEVEL", "INFO"), format=FORMAT, handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    logging.getLogger("aiohttp.server").addFilter(malformed_http_in_one_line)
    return handler


def malformed_http_in_one_line(record: logging.LogRecord) -> bool:
    """aiohttp logs every request it cannot parse (a bad header byte, a broken request line) with a
    traceback at ERROR. That is the client's mistake, not ours: make it one INFO line."""
    from aiohttp.http_exceptions import HttpProcessingError

    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 400) < 500:
        record.args = (record.getMessage(), exc.code, one_line(exc.message))
        record.msg = "%s: malformed HTTP request (%s): %s"
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
    return True


def one_line(text: object, limit: int = MAX_FIELD) -> str:
    """Caller-supplied text made safe for one log line: cut to ``limit`` characters, control
    characters, line separators and lone surrogates escaped."""
    s = str(text)
    if len(s) > limit:
        s = s[:limit] + f"... ({len(s)} characters)"
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", s)


def log_files(settings: Settings) -> list[Path]:
    """The log and its rotated predecessors, oldest first."""
    older = [Path(f"{settings.log_path}.{i}") for i in range(settings.log_backups, 0, -1)]
    return [p for p in [*older, settings.log_path] if p.exists()]


def tail(settings: Settings, lines: int) -> list[str]:
    """The last ``lines`` lines of the log, reaching into rotated files when the current one is short."""
    collected: list[str] = []
    for path in reversed(log_files(settings)):
        if len(collected) >= lines:
            break
        with path.open(errors="replace") as fh:
            chunk = deque((line.rstrip("\n") for line in fh), maxlen=lines - len(collected))
        collected = [*chunk, *collected]
    return collected


def follow(settings: Settings, poll: float = 0.3) -> Iterator[str]:
    """New lines as they are written, across rotations (a rotation renames the file under us)."""
    path = settings.log_path
    while not path.exists():
        time.sleep(poll)
    fh = path.open(errors="replace")
    fh.seek(0, os.SEEK_END)
    try:
        while True:
            line = fh.readline()
            if line:
                yield line
                continue
            try:
                current = path.stat()
            except FileNotFoundError:
                time.sleep(poll)
                continue
            if current.st_ino != os.fstat(fh.fileno()).st_ino or current.st_size < fh.tell():
                fh.close()
                fh = path.open(errors="replace")
                continue
            time.sleep(poll)
    finally:
        fh.close()


def crash_text(settings: Settings, lines: int = 20) -> str:
    """What the daemon printed outside its log at its last start (empty when all went well)."""
    try:
        text = stderr_path(settings).read_text(errors="replace").strip()
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
