"""`inferpipe daemon start|stop|status|logs`."""

from __future__ import annotations

import os
import sys
import time

import typer

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
    """Stop this home's daemon gracefully. Endpoints keep running and are re-adopted by the next start.

    Only a daemon verified as this home's (its record in $INFERPIPE_HOME/daemon.json, the live
    process and the server on its port agree) is stopped; anything else is reported, exit code 1."""
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
    """Print the daemon's log ($INFERPIPE_HOME/daemon.log)."""
    path = STATE.settings.log_path
    if not path.exists():
        print(f"No log yet at {path}.", file=sys.stderr)
        raise typer.Exit(1)
    lines = path.read_text(errors="replace").splitlines()[-tail:]
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    if follow:
        with path.open() as fh:
            fh.seek(0, 2)
            while True:
                line = fh.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    time.sleep(0.3)
