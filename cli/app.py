"""The Typer application object and the global options every command shares."""

from __future__ import annotations

from enum import StrEnum

import jmespath
import typer
from jmespath.exceptions import JMESPathError

from .context import STATE
from .pagination import Paging


def examples(*commands: str) -> str:
    """A command's help epilog: each example a fenced Markdown code block, so the rich help keeps
    its line breaks and trailing backslashes and it pastes into a shell as is (an indented block
    would not survive: the help dedents epilogs)."""
    title = "Example:" if len(commands) == 1 else "Examples:"
    return title + "\n\n" + "\n\n".join(f"```\n{cmd.strip()}\n```" for cmd in commands)


app = typer.Typer(
    name="inferpipe",
    help=(
        "Run SageMaker-style serial inference pipelines on this machine.\n\n"
        "Commands mirror the AWS CLI (`aws sagemaker ...`): create-model, create-endpoint-config,"
        " create-endpoint, invoke-endpoint... A local daemon (started on first use) hosts the"
        " endpoints and speaks SageMaker's API, so boto3 works against it too."
    ),
    no_args_is_help=True,
    epilog=examples(
        "inferpipe create-model -f sample-pipelines/wine/pipeline.yaml",
        "inferpipe list-models --output json --query 'Models[].ModelName'",
    ),
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
wait_app = typer.Typer(
    help="Wait until a resource reaches a state (like `aws sagemaker wait`).",
    no_args_is_help=True,
    epilog=examples("inferpipe wait endpoint-in-service --endpoint-name churn"),
)
daemon_app = typer.Typer(
    help="Manage the local inferpipe daemon.",
    no_args_is_help=True,
    epilog=examples("inferpipe daemon start", "inferpipe daemon status --output json"),
)
app.add_typer(wait_app, name="wait")
app.add_typer(daemon_app, name="daemon")


class Output(StrEnum):
    json = "json"
    text = "text"
    table = "table"
    yaml = "yaml"
    yaml_stream = "yaml-stream"


@app.callback()
def main_options(
    output: Output | None = typer.Option(
        None,
        "--output",
        "-o",
        help="json, text, table, yaml or yaml-stream, printed as the AWS CLI prints them."
        " Default: a rich view on a terminal, json otherwise.",
    ),
    query: str | None = typer.Option(None, "--query", help="JMESPath expression applied to the JSON output."),
    endpoint_url: str | None = typer.Option(
        None,
        "--endpoint-url",
        help="Talk to this daemon (default: $INFERPIPE_URL, else the local one).",
        envvar="INFERPIPE_URL",
    ),
    max_items: int | None = typer.Option(
        None, "--max-items", min=1, help="list-*: print at most this many items, then a NextToken to resume from."
    ),
    starting_token: str | None = typer.Option(
        None, "--starting-token", help="list-*: resume from the NextToken a --max-items run printed."
    ),
    page_size: int | None = typer.Option(
        None, "--page-size", min=1, help="list-*: items per call to the daemon (all pages are still fetched)."
    ),
    no_paginate: bool = typer.Option(
        False, "--no-paginate", help="list-*: make one call and print that page only (with its NextToken)."
    ),
) -> None:
    if query is not None:
        # Refuse a bad expression before calling anything: after a create it would be too late.
        try:
            jmespath.compile(query)
        except JMESPathError as exc:
            raise typer.BadParameter(f"{query!r} is not a JMESPath expression: {exc}", param_hint="--query") from None
    STATE.output = output.value if output else None
    STATE.query = query
    STATE.endpoint_url = endpoint_url
    STATE.paging = Paging(max_items, starting_token, page_size, not no_paginate)
