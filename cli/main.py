"""Entry point: wires the commands together and turns errors into the AWS CLI's messages and exit
codes (see exit_codes.py)."""

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

from . import aws_args, daemon, deploy, endpoints, global_options, invoke, resources, service_model, transform  # noqa: F401 - registers the commands
from .app import app
from .context import STATE
from .exit_codes import CONFIGURATION, OTHER, SERVICE, USAGE
from .waiters import WaiterError

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


def split_aws_members(argv: list[str]) -> list[str]:
    """Takes the AWS CLI member flags of the line's `aws sagemaker` command out of `argv` (into
    STATE.aws) and returns what Typer parses. Help lines are left whole: Typer prints the help."""
    if "--help" in argv or "-h" in argv:
        return argv
    i = 0
    while i < len(argv) and argv[i].startswith("-"):  # global options before the command
        i += 1 if "=" in argv[i] or argv[i] not in ("--output", "-o", "--query", "--endpoint-url") else 2
    if i >= len(argv):
        return argv
    operation = service_model.command_operations().get(argv[i])
    if operation is None:
        return argv
    parsed = aws_args.split(operation, argv[i + 1 :])
    STATE.aws = parsed
    return [*argv[: i + 1], *parsed.rest]


def print_skeleton(parsed: aws_args.Parsed) -> None:
    import json

    skeleton = aws_args.skeleton(parsed.operation, parsed.skeleton or "input")
    if parsed.skeleton == "yaml-input":
        import yaml

        sys.stdout.write(yaml.safe_dump(json.loads(json.dumps(skeleton)), sort_keys=False))
    else:
        sys.stdout.write(json.dumps(skeleton, indent=4) + "\n")


def usage_error(message: str) -> None:
    if message.startswith(("Error parsing parameter", "Parameter validation failed")):
        print(f"\n{message}", file=sys.stderr)
    else:
        print(
            "usage: inferpipe [options] <command> [parameters]\nTo see help text, you can run:\n\n"
            "  inferpipe --help\n  inferpipe <command> --help\n\n"
            f"inferpipe: error: {message}",
            file=sys.stderr,
        )
    sys.exit(USAGE)


def main() -> None:
    try:
        argv = global_options.extract(sys.argv[1:])
        if global_options.GLOBALS.color == "off":
            from . import render

            render.console.no_color = render.err_console.no_color = True
        argv = split_aws_members(argv)
        if STATE.aws is not None and STATE.aws.skeleton in ("input", "yaml-input"):
            print_skeleton(STATE.aws)
            return
        app(args=hoist_global_options(argv), prog_name="inferpipe", standalone_mode=True)
    except SystemExit as exc:
        # Typer (standalone) exits 2 for a usage error it found: the AWS CLI says 252.
        sys.exit(USAGE if exc.code == 2 else exc.code)
    except (global_options.GlobalOptionError, aws_args.ArgumentError) as exc:
        usage_error(str(exc))
    except ApiError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(SERVICE)
    except WaiterError as exc:
        print(str(exc), file=sys.stderr)
        if exc.failure_reason:
            print(f"FailureReason: {exc.failure_reason}", file=sys.stderr)
        sys.exit(OTHER)
    except global_options.ProfileNotFound as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(CONFIGURATION)
    except ConfigError as exc:  # a bad INFERPIPE_* value: the configuration is wrong
        print(f"inferpipe: {exc}", file=sys.stderr)
        sys.exit(CONFIGURATION)
    except (DaemonStartFailed, DaemonNotVerified, HomeProblem) as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(OTHER)
    except DaemonUnavailable as exc:
        print(f"{exc} Start it with: inferpipe daemon start (log: $INFERPIPE_HOME/daemon.log)", file=sys.stderr)
        sys.exit(OTHER)


if __name__ == "__main__":
    main()
