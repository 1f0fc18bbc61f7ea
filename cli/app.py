"""The Typer application object and the global options every command shares."""

from __future__ import annotations

from enum import StrEnum

import typer

from .context import STATE

app = typer.Typer(
    name="inferpipe",
    help=(
        "Run SageMaker-style serial inference pipelines on this machine.\n\n"
        "Commands mirror the AWS CLI (`aws sagemaker ...`): create-model, create-endpoint-config,"
        " create-endpoint, invoke-endpoint... A local daemon (started on first use) hosts the"
        " endpoints and speaks SageMaker's API, so boto3 works against it too."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
wait_app = typer.Typer(help="Wait until a resource reaches a state (like `aws sagemaker wait`).", no_args_is_help=True)
daemon_app = typer.Typer(help="Manage the local inferpipe daemon.", no_args_is_help=True)
app.add_typer(wait_app, name="wait")
app.add_typer(daemon_app, name="daemon")


class Output(StrEnum):
    json = "json"
    table = "table"


@app.callback()
def main_options(
    output: Output | None = typer.Option(
        None,
        "--output",
        "-o",
        help="json (the API response, as the AWS CLI prints it) or table. Default: json when stdout is not a terminal.",
    ),
    query: str | None = typer.Option(None, "--query", help="JMESPath expression applied to the JSON output."),
    endpoint_url: str | None = typer.Option(
        None,
        "--endpoint-url",
        help="Talk to this daemon (default: $INFERPIPE_URL, else the local one).",
        envvar="INFERPIPE_URL",
    ),
) -> None:
    STATE.output = output.value if output else None
    STATE.query = query
    STATE.endpoint_url = endpoint_url
