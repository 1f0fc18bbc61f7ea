"""The AWS CLI's global options, accepted anywhere on the line so pasted `aws sagemaker` lines work.

Used where they mean something for a local daemon: --endpoint-url picks the daemon, --region and
--profile pick the signing credentials (an AWS profile's keys, as `inferpipe daemon env
--profile` writes them), --debug logs each request and response to stderr, the two timeouts and
--no-verify-ssl configure the HTTP client, --color off drops colour (on and auto leave it
to rich, which colours a terminal). --no-cli-pager is
accepted: inferpipe never pages. (--output and --query are the output layer's.)

Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inferpipe.core.credentials import DEFAULT_REGION, Credentials, for_client

WITH_VALUE = ("--region", "--profile", "--cli-read-timeout", "--cli-connect-timeout", "--color")
FLAGS = ("--debug", "--no-verify-ssl", "--no-cli-pager")
COLORS = ("on", "off", "auto")
OWN_OPTIONS = {("daemon", "env"): frozenset({"--profile"})}


class GlobalOptionError(Exception):
    """A bad global option value; a usage error (exit 252)."""


@dataclass
class GlobalOptions:
    region: str | None = None
    profile: str | None = None
    debug: bool = False
    read_timeout: float | None = None  # None: no timeout (0 on the line), when given
    connect_timeout: float | None = None
    timeouts_given: frozenset[str] = frozenset()
    verify_ssl: bool = True
    color: str = "auto"
    endpoint_url: str | None = None


GLOBALS = GlobalOptions()


def _seconds(name: str, value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        raise GlobalOptionError(f"argument {name}: invalid int value: '{value}'") from None
    if seconds < 0:
        raise GlobalOptionError(f"argument {name}: must be 0 (no timeout) or more")
    return None if seconds == 0 else seconds  # 0 means blocking, as in the AWS CLI


def extract(argv: list[str], into: GlobalOptions = GLOBALS) -> list[str]:
    """`argv` without the global options, which are recorded in `into`. `--` ends the options.
    A command's own option of the same name stays its own (`daemon env --profile NAME`)."""
    own = OWN_OPTIONS.get(tuple(argv[:2]), frozenset())
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        name, eq, inline = token.partition("=")
        if name in own:
            rest.append(token)
            i += 1
            continue
        if name in FLAGS and not eq:
            if name == "--debug":
                into.debug = True
            elif name == "--no-verify-ssl":
                into.verify_ssl = False
            i += 1
            continue
        if name in WITH_VALUE:
            if eq:
                value, i = inline, i + 1
            elif i + 1 < len(argv):
                value, i = argv[i + 1], i + 2
            else:
                raise GlobalOptionError(f"argument {name}: expected one argument")
            _set(into, name, value)
            continue
        rest.append(token)
        i += 1
    return rest


def _set(into: GlobalOptions, name: str, value: str) -> None:
    if name == "--region":
        into.region = value
    elif name == "--profile":
        into.profile = value
    elif name == "--cli-read-timeout":
        into.read_timeout = _seconds(name, value)
        into.timeouts_given |= {"read"}
    elif name == "--cli-connect-timeout":
        into.connect_timeout = _seconds(name, value)
        into.timeouts_given |= {"connect"}
    elif name == "--color":
        if value not in COLORS:
            raise GlobalOptionError(f"argument --color: invalid choice: '{value}' (choose from 'on', 'off', 'auto')")
        into.color = value
    elif name == "--endpoint-url":
        into.endpoint_url = value


class ProfileNotFound(Exception):
    """--profile names no profile in the AWS config or credentials file; a configuration error."""

    def __init__(self, profile: str) -> None:
        super().__init__(f"The config profile ({profile}) could not be found")


def profile_credentials(profile: str) -> Credentials:
    """The profile's keys and region from the AWS shared files (where `inferpipe daemon env
    --profile` writes them)."""
    import configparser

    from .awsconfig import config_file, credentials_file

    keys = configparser.ConfigParser()
    keys.read(credentials_file())
    config = configparser.ConfigParser()
    config.read(config_file())
    section = "default" if profile == "default" else f"profile {profile}"
    has_config = config.has_section(section)
    if not keys.has_section(profile) and not has_config:
        raise ProfileNotFound(profile)

    def get(key: str) -> str | None:
        found = keys.get(profile, key, fallback=None) if keys.has_section(profile) else None
        return found or (config.get(section, key, fallback=None) if has_config else None)

    access, secret = get("aws_access_key_id"), get("aws_secret_access_key")
    if not access or not secret:
        raise ProfileNotFound(profile)
    region = (config.get(section, "region", fallback=None) if has_config else None) or DEFAULT_REGION
    return Credentials(access, secret, region)


def signing_credentials(home: Path, env: Mapping[str, str]) -> Credentials | None:
    """What a request is signed with: --profile's keys when given (else the home's, else the AWS
    environment variables), for --region's region when given."""
    creds = profile_credentials(GLOBALS.profile) if GLOBALS.profile else for_client(home, env)
    if creds is not None and GLOBALS.region:
        creds = Credentials(creds.access_key_id, creds.secret_access_key, GLOBALS.region)
    return creds
