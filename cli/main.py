"""Entry point: wires the commands together and turns errors into the AWS CLI's messages and exit
codes (1 for a failed call, 2 for a usage error)."""

from __future__ import annotations

import sys

from inferpipe.cli.client import (
    ApiError,
    ConfigError,
    DaemonNotVerified,
    DaemonStartFailed,
    DaemonUnavailable,
    HomeProblem,
)

from . import daemon, deploy, endpoints, invoke, registry, resources, transform  # noqa: F401 - registers the commands
from .app import app

GLOBAL_OPTIONS = ("--output", "-o", "--query", "--endpoint-url")


def hoist_global_options(argv: list[str]) -> list[str]:
    """The AWS CLI accepts --output/--query/--endpoint-url anywhere on the line; click wants them
    before the command, so move them there."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        value = arg.split("=", 1)[1] if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")
        if name == "--output" and value not in ("json", "table"):
            rest.append(arg)  # a command's own --output (`transform --output DIR`), not the format
        elif name in GLOBAL_OPTIONS:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(argv[i : i + 2])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="inferpipe", standalone_mode=True)
    except ApiError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(1)
    except ConfigError as exc:  # a bad INFERPIPE_* value is a usage error
        print(f"inferpipe: {exc}", file=sys.stderr)
        sys.exit(2)
    except (DaemonStartFailed, DaemonNotVerified, HomeProblem) as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(1)
    except DaemonUnavailable as exc:
        print(f"{exc} Start it with: inferpipe daemon start (log: $INFERPIPE_HOME/daemon.log)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
