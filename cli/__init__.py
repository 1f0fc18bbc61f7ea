"""The inferpipe command line (Typer). It reaches the engine only through the API client."""


def main() -> None:
    """Console entry point: one-shot invocations take the standard-library fast path; everything
    else (and anything unusual about an invocation) goes to the full Typer CLI."""
    import sys

    from .fast import run

    code = run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from .main import main as full_cli

    full_cli()
