"""The inferpipe command line (Typer). It reaches the engine only through the API client."""


def main() -> None:
    """Console entry point: one-shot invocations, describe-* and list-* take the standard-library fast paths; everything
    else (and anything unusual about an invocation) goes to the full Typer CLI."""
    import sys

    from .fast import run

    code = run(sys.argv[1:])
    if code is None:
        from .fast_read import run as run_read

        code = run_read(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from .main import main as full_cli

    full_cli()
