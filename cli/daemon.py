"""`inferpipe daemon start|stop|status|logs`."""

from __future__ import annotations

import os
import sys

import typer

from inferpipe.core import daemon_log
from inferpipe.core.client import ApiClient, start_daemon, stop_daemon

from .app import daemon_app, examples
from .context import STATE
from .render import console, emit


@daemon_app.command(
    "start", epilog=examples("inferpipe daemon start", "INFERPIPE_PORT=9000 inferpipe daemon start --foreground")
)
def start(
    foreground: bool = typer.Option(
        False, "--foreground", help="Run in this process (for supervisors and containers)."
    ),
) -> None:
    """Start the daemon for $INFERPIPE_HOME (detached; returns once it answers)."""
    if foreground:
        from inferpipe.core.daemon import main as daemon_main

        raise typer.Exit(daemon_main())
    status = start_daemon(STATE.settings)
    emit(status)


@daemon_app.command("stop", epilog=examples("inferpipe daemon stop"))
def stop() -> None:
    """Stop the daemon gracefully. Endpoints keep running and are re-adopted by the next start."""
    stopped = stop_daemon(STATE.settings)
    if not STATE.as_json:
        console.print("daemon stopped" if stopped else "no daemon was running")
    else:
        emit({"stopped": stopped})


@daemon_app.command("status", epilog=examples("inferpipe daemon status --output json"))
def status() -> None:
    """Show the daemon's url, pid, version and home. Exit 1 when none answers."""
    url = STATE.endpoint_url or os.environ.get("INFERPIPE_URL") or STATE.settings.url
    info = ApiClient(url).status()
    if info is None:
        print(f"No inferpipe daemon answers at {url}. Start one with: inferpipe daemon start", file=sys.stderr)
        raise typer.Exit(1)
    emit(info)


@daemon_app.command("logs", epilog=examples("inferpipe daemon logs --tail 100 --follow"))
def logs(
    tail: int = typer.Option(50, "--tail"),
    follow: bool = typer.Option(False, "--follow", "-f"),
) -> None:
    """Print the daemon's log ($INFERPIPE_HOME/daemon.log, and its rotated daemon.log.N files)."""
    settings = STATE.settings
    if not daemon_log.log_files(settings) and not daemon_log.crash_text(settings):
        print(f"No log yet at {settings.log_path}.", file=sys.stderr)
        raise typer.Exit(1)
    lines = daemon_log.tail(settings, tail)
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    crash = daemon_log.crash_text(settings)
    if crash:  # printed outside the log: a crash before logging started, or of the interpreter
        sys.stdout.write(f"--- {daemon_log.stderr_path(settings)} ---\n{crash}\n")
    if follow:
        for line in daemon_log.follow(settings):
            sys.stdout.write(line)
            sys.stdout.flush()
