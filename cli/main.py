"""Entry point: wires the commands together and turns errors into the AWS CLI's messages and exit
codes (see exit_codes.py)."""

from __future__ import annotations

import sys
from typing import Any

import typer
import typer.rich_utils

from inferpipe.cli.client import (
    ApiError,
    ConfigError,
    DaemonNotVerified,
    DaemonStartFailed,
    DaemonUnavailable,
    HomeProblem,
)

from . import aws_args, daemon, deploy, endpoints, global_options, invoke, registry, resources, service_model, transform  # noqa: F401 - registers the commands
from .app import app
from .context import STATE
from .exit_codes import CONFIGURATION, OTHER, SERVICE, USAGE
from .pagination import PaginationError
from .waiters import WaiterError

# The AWS CLI's global options (and its paging options, which it accepts after any list command),
# with whether each takes a value.
GLOBAL_OPTIONS = {
    "--output": True,
    "-o": True,
    "--query": True,
    "--endpoint-url": True,
    "--max-items": True,
    "--starting-token": True,
    "--page-size": True,
    "--no-paginate": False,
}


def _own_options(argv: list[str], root: Any) -> set[str]:
    """The options the command named on this line defines itself (`transform --output DIR`): those
    stay with it; the global ones are only global options when the command has none of that name."""
    # Typer carries its own click: groups are recognised by their subcommands, not by class.
    command: Any = root
    ctx = typer.Context(command)
    i = 0
    while i < len(argv) and hasattr(command, "get_command"):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            i += 1 if "=" in arg or not GLOBAL_OPTIONS[name] else 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        sub = command.get_command(ctx, arg)
        if sub is None:
            return set()
        command = sub
        i += 1
    if hasattr(command, "get_command"):
        return set()
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def hoist_global_options(argv: list[str], root: Any = None) -> list[str]:
    """The AWS CLI accepts --output/--query/--endpoint-url and the paging options anywhere on the
    line; click wants them before the command, so move them there, unless the command has an
    option of that name itself (then the first is the command's, whatever its value, and a second
    the global one: `transform --output DIR --output json`). ``root`` is the
    click command of the app, built here if not given (it costs a quarter of a second)."""
    if root is None:
        root = typer.main.get_command(app)
    own = _own_options(argv, root)
    front: list[str] = []
    rest: list[str] = []
    seen_command = False
    kept: set[str] = set()  # the command's own options met so far: a second one is the global
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if seen_command and name in own and name not in kept:
            kept.add(name)
        elif name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            front.extend(argv[i : i + 2] if takes_value else [arg])
            i += 2 if takes_value else 1
            continue
        if not arg.startswith("-"):
            seen_command = True
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
        i += 1 if "=" in argv[i] or not GLOBAL_OPTIONS.get(argv[i]) else 2
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


# Help piped to a file or a pager is laid out this wide (rich would cut it at 80 columns), with the
# padding rich adds after each line removed.
PIPED_HELP_WIDTH = 240


class _TrimmedLines:
    """stdout with the trailing spaces of every line dropped."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write("\n".join(line.rstrip(" ") for line in text.split("\n")))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _widen_piped_help(argv: list[str]) -> None:
    if sys.stdout.isatty() or not (not argv or "--help" in argv or "-h" in argv):
        return
    typer.rich_utils.MAX_WIDTH = PIPED_HELP_WIDTH
    sys.stdout = _TrimmedLines(sys.stdout)  # type: ignore[assignment]


def main() -> None:
    _widen_piped_help(sys.argv[1:])
    try:
        argv = global_options.extract(sys.argv[1:])
        if global_options.GLOBALS.color == "off":
            from . import render

            render.console.no_color = render.err_console.no_color = True
        argv = split_aws_members(argv)
        if STATE.aws is not None and STATE.aws.skeleton in ("input", "yaml-input"):
            print_skeleton(STATE.aws)
            return
        # Built once, for the hoisting and the run (Typer's own app() would build it again).
        root = typer.main.get_command(app)
        root(args=hoist_global_options(argv, root), prog_name="inferpipe", standalone_mode=True)
    except SystemExit as exc:
        # Typer (standalone) exits 2 for a usage error it found: the AWS CLI says 252.
        sys.exit(USAGE if exc.code == 2 else exc.code)
    except (global_options.GlobalOptionError, aws_args.ArgumentError) as exc:
        usage_error(str(exc))
    except PaginationError as exc:  # paging options that cannot go together: a usage error
        print(f"\nError during pagination: {exc}", file=sys.stderr)
        sys.exit(USAGE)
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
