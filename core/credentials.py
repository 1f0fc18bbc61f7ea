"""The daemon's own AWS-style credentials: one access key pair per home, kept owner-only.
Standard library only: the CLI's fast path imports this module. Design notes: docs/security.md."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import string
from collections.abc import Mapping
from pathlib import Path

FILE_NAME = "credentials"
DEFAULT_REGION = "us-east-1"
# AWS key ids are 20 upper-case characters starting AKIA/ASIA; ours are as long but start IPAK, so
# a secret scanner or a human never mistakes one for (or sends it to) real AWS.
KEY_PREFIX = "IPAK"
_KEY_ALPHABET = string.ascii_uppercase + "234567"
OWNER_ONLY = 0o600


class Credentials:
    """An access key pair and the region it signs for. A plain class, not a dataclass: the CLI's
    fast path imports this, and dataclasses costs 10 ms of imports there; and its repr must not
    print the secret into a log or a traceback."""

    __slots__ = ("access_key_id", "secret_access_key", "region")

    def __init__(self, access_key_id: str, secret_access_key: str, region: str = DEFAULT_REGION) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (self.access_key_id, self.secret_access_key, self.region) == (
            other.access_key_id,
            other.secret_access_key,
            other.region,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable slots: not a dict key

    def __repr__(self) -> str:
        return f"Credentials({self.access_key_id!r}, <secret>, {self.region!r})"

    def as_json(self) -> dict[str, object]:
        return {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Region": self.region,
        }


def path_in(home: Path) -> Path:
    return home / FILE_NAME


def generate(region: str) -> Credentials:
    key_id = KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    # 30 random bytes -> 40 URL-safe characters: as long as an AWS secret, and free of ':' and
    # shell metacharacters, so `curl --user KEY:SECRET` and `export` take it verbatim.
    return Credentials(key_id, secrets.token_urlsafe(30), region)


def _parse(text: str) -> Credentials | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    key, secret = data.get("AccessKeyId"), data.get("SecretAccessKey")
    if not isinstance(key, str) or not isinstance(secret, str) or not key or not secret:
        return None
    region = data.get("Region")
    return Credentials(key, secret, region if isinstance(region, str) and region else DEFAULT_REGION)


def load(home: Path) -> Credentials | None:
    """The home's credentials, or None when the file is absent, unreadable (another user's home)
    or not ours."""
    try:
        return _parse(path_in(home).read_text())
    except OSError:
        return None


def write_atomic(path: Path, text: str, mode: int = OWNER_ONLY) -> None:
    """Replace `path` with `text` in one step: a fresh file next to it, with `mode` from its first
    byte (O_CREAT|O_EXCL with the mode, so there is no window where others can read it), renamed
    over `path`. A reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask can only remove bits; make it exactly `mode`
        os.write(fd, text.encode())
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


def _write_new(path: Path, creds: Credentials) -> None:
    write_atomic(path, json.dumps(creds.as_json(), indent=2) + "\n")


class InsecureCredentials(Exception):
    """The credentials file exists but others could read or replace it."""


def ensure(home: Path, region: str) -> tuple[Credentials, list[str]]:
    """The daemon's credentials for `home`, created on first start; the region is rewritten when
    the daemon now runs in another one. Returns the credentials and warnings worth logging."""
    home.mkdir(parents=True, exist_ok=True)
    path = path_in(home)
    warnings: list[str] = []
    try:
        st = path.lstat()
    except FileNotFoundError:
        creds = generate(region)
        _write_new(path, creds)
        return creds, warnings
    if not stat.S_ISREG(st.st_mode):
        raise InsecureCredentials(f"{path} is not a regular file; remove it and start the daemon again.")
    if st.st_uid != os.getuid():
        raise InsecureCredentials(f"{path} belongs to another user (uid {st.st_uid}); remove it to get new ones.")
    if stat.S_IMODE(st.st_mode) & 0o077:
        # Someone widened it: the secret may have been read, but narrowing it keeps the next
        # reader out, and a warning tells the owner to rotate (delete the file) if that matters.
        os.chmod(path, OWNER_ONLY)
        warnings.append(
            f"{path} was readable by others (mode {stat.S_IMODE(st.st_mode):o}); set it back to 600."
            " Delete the file and restart the daemon to get new credentials."
        )
    creds = _parse(path.read_text())
    if creds is None:
        raise InsecureCredentials(f"{path} is not a credentials file inferpipe wrote; remove it to get new ones.")
    if creds.region != region:
        creds = Credentials(creds.access_key_id, creds.secret_access_key, region)
        _write_new(path, creds)
    return creds, warnings


def from_environment(env: Mapping[str, str]) -> Credentials | None:
    """The standard AWS variables, for a daemon whose home this user cannot read."""
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    region = env.get("INFERPIPE_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    return Credentials(key, secret, region or DEFAULT_REGION)


def for_client(home: Path, env: Mapping[str, str]) -> Credentials | None:
    """What the CLI signs with: the home's own credentials first (a user's real AWS keys in the
    environment must not shadow the local daemon's), then the AWS environment variables."""
    return load(home) or from_environment(env)
