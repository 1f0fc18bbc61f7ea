"""`inferpipe daemon start|stop|status|logs|env`."""

from __future__ import annotations

import json
import os
import re
import sys

import typer

from inferpipe.cli.client import ApiClient, start_daemon, stop_daemon
from inferpipe.core import credentials, daemon_log

from . import awsconfig
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
    info = ApiClient(url, home=STATE.settings.home).status()
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
    crash = daemon_log.crash_text(settings)
    if not daemon_log.log_files(settings) and not crash:
        print(f"No log yet at {settings.log_path}.", file=sys.stderr)
        raise typer.Exit(1)
    lines = daemon_log.tail(settings, tail)
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    if crash:  # printed outside the log: a crash before logging started, or of the interpreter
        sys.stdout.write(f"--- {daemon_log.stderr_path(settings)} ---\n{crash}\n")
    if follow:
        for line in daemon_log.follow(settings):
            sys.stdout.write(line)
            sys.stdout.flush()


@daemon_app.command(
    "env",
    epilog=examples(
        'eval "$(inferpipe daemon env)"',
        "inferpipe daemon env --output json",
        "inferpipe daemon env --profile inferpipe --write",
    ),
)
def env(
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="Instead of exports, an AWS config profile of this name (for scripts that also use AWS).",
    ),
    write: bool = typer.Option(
        False,
        "--write",
        help="With --profile: put it in $AWS_CONFIG_FILE (~/.aws/config) and its keys in"
        " $AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), replacing a profile of that name.",
    ),
) -> None:
    """How AWS tools reach this daemon: its endpoint for sagemaker and sagemaker-runtime, its
    credentials and region, as shell exports (or JSON, or a named AWS profile). After the exports,
    boto3.client("sagemaker") needs no endpoint_url or keys; after --profile NAME --write, use
    AWS_PROFILE=NAME or boto3.Session(profile_name=NAME)."""
    if write and not profile:
        raise typer.BadParameter("--write needs --profile NAME", param_hint="--write")
    if profile is not None and not re.fullmatch(r"[A-Za-z0-9_.+-]+", profile):
        raise typer.BadParameter("letters, digits and _.+- only", param_hint="--profile")
    url = STATE.client().url  # starts the home's daemon if none answers: it writes the credentials
    creds = credentials.load(STATE.settings.home)
    if creds is None:
        print(
            f"No credentials readable in {credentials.path_in(STATE.settings.home)}: `daemon env` describes the"
            " daemon of $INFERPIPE_HOME; set INFERPIPE_HOME to the home of the daemon at"
            f" {url}, or ask its owner for the output of `inferpipe daemon env`.",
            file=sys.stderr,
        )
        raise typer.Exit(1)
    as_json = STATE.output == "json"  # not STATE.as_json: `eval "$(...)"` pipes stdout yet wants exports
    if profile is None:
        variables = awsconfig.exports(url, creds)
        sys.stdout.write(json.dumps(variables, indent=4) + "\n" if as_json else awsconfig.shell(variables))
        return
    if write:
        cfg, cred = awsconfig.write_profile(profile, url, creds)
        result = {"Profile": profile, "ConfigFile": str(cfg), "CredentialsFile": str(cred)}
        if as_json:
            sys.stdout.write(json.dumps(result, indent=4) + "\n")
        else:
            print(f"Wrote profile {profile!r} to {cfg} and its keys to {cred}.")
            print(f"Use it with AWS_PROFILE={profile} or boto3.Session(profile_name={profile!r}).")
        return
    config, keys = awsconfig.profile_sections(profile, url, creds)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {"Profile": profile, "Config": awsconfig.render(config), "Credentials": awsconfig.render(keys)},
                indent=4,
            )
            + "\n"
        )
        return
    sys.stdout.write(
        f"# {awsconfig.config_file()}\n{awsconfig.render(config)}\n"
        f"# {awsconfig.credentials_file()}\n{awsconfig.render(keys)}"
    )
