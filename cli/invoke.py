"""Invoking endpoints: the AWS CLI's invoke-endpoint, and a pipe-friendly `invoke`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from . import aws_args, service_model, trace_view
from .app import app, examples
from .aws_command import AwsCommand
from .client import ApiError
from .context import STATE, request
from .fast import invocation_headers
from .params import read_body


@app.command(
    "invoke-endpoint",
    cls=AwsCommand,
    epilog=examples(
        (
            "inferpipe invoke-endpoint --endpoint-name wine --body fileb://rows.csv \\\n"
            "  --content-type text/csv --accept application/json out.json"
        ),
    ),
)
def invoke_endpoint(
    outfile: str = typer.Argument(..., help="Where to write the response body ('-' for stdout)."),
) -> None:
    """Send one request through the endpoint's pipeline (AWS CLI shape)."""
    req = request("InvokeEndpoint")
    aws_args.check_required("InvokeEndpoint", req)
    members = service_model.input_shape("InvokeEndpoint")["members"]
    # Every member but the endpoint and the body travels as the HTTP header the model names.
    headers = {
        members[k]["locationName"]: str(v)
        for k, v in req.items()
        if members.get(k, {}).get("location") == "header" and v is not None
    }
    result = STATE.client().invoke(req["EndpointName"], read_body(req["Body"]), headers)
    if outfile == "-":
        sys.stdout.buffer.write(result.body)
    else:
        Path(outfile).write_bytes(result.body)
    meta = {"ContentType": result.content_type, "InvokedProductionVariant": result.variant}
    if result.custom_attributes:
        meta["CustomAttributes"] = result.custom_attributes
    if outfile != "-":
        sys.stdout.write(json.dumps(meta, indent=4) + "\n")


@app.command(
    "invoke",
    epilog=examples(
        "head -3 rows.csv | inferpipe invoke wine --content-type text/csv",
        "inferpipe invoke wine --body @rows.csv --content-type text/csv --accept application/json",
        "inferpipe invoke wine --body '13.2,1.78,2.14,11.2,100,2.65,2.76,0.26,1.28,4.38,1.05,3.4,1050'",
        "inferpipe invoke wine --body @rows.csv --trace    # what each container received and answered",
        "inferpipe --output json invoke wine --body @rows.csv --trace | jq '.Trace.Containers[1].Request'",
    ),
)
def invoke(
    endpoint_name: str = typer.Argument(..., help="The endpoint."),
    body: str | None = typer.Option(
        None, "--body", "-b", help="@file, fileb://file, a literal, or '-'/omitted for stdin."
    ),
    content_type: str | None = typer.Option("text/csv", "--content-type", "-t"),
    accept: str | None = typer.Option(None, "--accept", "-a"),
    custom_attributes: str | None = typer.Option(None, "--custom-attributes"),
    target_variant: str | None = typer.Option(None, "--target-variant"),
    target_container_hostname: str | None = typer.Option(None, "--target-container-hostname"),
    trace: bool = typer.Option(
        False,
        "--trace",
        help="Also show, per container in order, the request it received and its answer (headers, sizes, body"
        " previews, latency) and where an error stopped the chain: a tree, or JSON with --output json.",
    ),
) -> None:
    """Invoke an endpoint and write the response body to stdout (for pipes and Makefiles)."""
    payload = read_body(body) if body is not None else sys.stdin.buffer.read()
    headers = invocation_headers(
        content_type, accept, custom_attributes, target_variant, target_container_hostname, None
    )
    client = STATE.client()
    if trace:
        headers[trace_view.TRACE_HEADER] = "1"
        try:
            traced = client.invoke(endpoint_name, payload, headers)
        except ApiError as exc:
            trace_view.show_error(client, exc)
            raise
        meta = {"ContentType": traced.content_type, "InvokedProductionVariant": traced.variant}
        trace_view.show(client, traced.trace_id, {**meta, **trace_view.body_fields(traced.body)})
        return
    result = client.invoke(endpoint_name, payload, headers)
    sys.stdout.buffer.write(result.body)
    if result.body and not result.body.endswith(b"\n") and sys.stdout.isatty():
        sys.stdout.write("\n")
