"""Entry point: wires the commands together and turns errors into the AWS CLI's messages and exit
codes (1 for a failed call, 2 for a usage error)."""

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

from . import daemon, deploy, endpoints, invoke, registry, resources, transform  # noqa: F401 - registers the commands
from .app import app
from .pagination import PaginationError

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
    option of that name itself (then it is the command's, whatever its value). ``root`` is the
    click command of the app, built here if not given (it costs a quarter of a second)."""
    if root is None:
        root = typer.main.get_command(app)
    own = _own_options(argv, root)
    front: list[str] = []
    rest: list[str] = []
    seen_command = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and not (seen_command and name in own):
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            front.extend(argv[i : i + 2] if takes_value else [arg])
            i += 2 if takes_value else 1
            continue
        if not arg.startswith("-"):
            seen_command = True
        rest.append(arg)
        i += 1
    return front + rest


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
        # Built once, for the hoisting and the run (Typer's own app() would build it again).
        root = typer.main.get_command(app)
        root(args=hoist_global_options(sys.argv[1:], root), prog_name="inferpipe", standalone_mode=True)
    except ApiError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(1)
    except PaginationError as exc:  # paging options that cannot go together: a usage error
        print(f"\nError during pagination: {exc}", file=sys.stderr)
        sys.exit(2)
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
