"""Endpoints: create (with --wait), describe, list, delete, the waiters, logs and metrics."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import typer

from inferpipe.cli.client import ApiClient, ApiError

from . import log_follow
from .app import app, examples, wait_app
from .aws_command import AwsCommand
from .context import STATE, request, send, send_list
from .params import put
from .render import console, emit, err_console
from .resources import with_spec
from .waiters import WaiterError

POLL = 0.5


def wait_for(client: ApiClient, name: str, target: str, timeout: float, quiet: bool = False) -> dict[str, Any]:
    """Poll DescribeEndpoint until `target` (or gone, for target='Deleted'); show a live status line."""
    waiter = "EndpointDeleted" if target == "Deleted" else "EndpointInService"
    deadline = time.monotonic() + timeout
    show = not quiet and not STATE.as_json
    last: dict[str, Any] = {}
    status_line = err_console.status(f"{name}: waiting") if show else None
    if status_line:
        status_line.start()
    try:
        while True:
            try:
                last = client.call("DescribeEndpoint", {"EndpointName": name})
            except ApiError as exc:
                if target == "Deleted" and exc.code == "ValidationException":
                    return {"EndpointName": name, "EndpointStatus": "Deleted"}
                if exc.code == "ValidationException":
                    raise WaiterError(
                        waiter,
                        "Waiter encountered a terminal failure state:"
                        " Matched expected service error code: ValidationException",
                    ) from None
                raise
            status = last.get("EndpointStatus")
            if status_line:
                counts = ", ".join(
                    f"{v['VariantName']} {v.get('CurrentInstanceCount', 0)}/{v.get('DesiredInstanceCount', 0)}"
                    for v in last.get("ProductionVariants", [])
                )
                status_line.update(f"{name}: [bold]{status}[/bold]  {counts}")
            if status == target:
                return last
            if status == "Failed":
                raise WaiterError(
                    waiter,
                    'Waiter encountered a terminal failure state: For expression "EndpointStatus" we matched'
                    ' expected path: "Failed"',
                    last.get("FailureReason"),
                )
            if time.monotonic() > deadline:
                raise WaiterError(waiter, "Max attempts exceeded")
            time.sleep(POLL)
    finally:
        if status_line:
            status_line.stop()


@app.command(
    "create-endpoint",
    cls=AwsCommand,
    epilog=examples("inferpipe create-endpoint --endpoint-name churn --endpoint-config-name churn-cfg --wait"),
)
def create_endpoint(
    spec: str | None = typer.Option(None, "-f", "--file", help="YAML/JSON request; a pipeline.yaml works too."),
    wait: bool = typer.Option(False, "--wait", help="Return only when InService (exit 255 if it fails)."),
    timeout: float = typer.Option(900, "--timeout", help="Seconds to wait with --wait."),
) -> None:
    """Create an endpoint: start the containers of every variant and health-check them."""
    req, _ = with_spec("CreateEndpoint", spec, "endpoint")
    result = send("CreateEndpoint", req)
    if wait:
        wait_for(STATE.client(), req["EndpointName"], "InService", timeout)
    emit(result)


def _variant_rows(desc: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Production variants", header_style="bold")
    for col in ("Variant", "Weight", "Instances", "Images"):
        table.add_column(col)
    for v in desc.get("ProductionVariants", []):
        images = "\n".join(i.get("SpecifiedImage", "") for i in v.get("DeployedImages", []))
        table.add_row(
            v["VariantName"],
            f"{v.get('CurrentWeight', '')} (desired {v.get('DesiredWeight', '')})",
            f"{v.get('CurrentInstanceCount', 0)}/{v.get('DesiredInstanceCount', 0)}",
            images,
        )
    console.print(table)


@app.command("describe-endpoint", cls=AwsCommand, epilog=examples("inferpipe describe-endpoint --endpoint-name churn"))
def describe_endpoint(
    metrics: bool = typer.Option(
        True, "--metrics/--no-metrics", help="Also show the last 5 minutes of metrics (table output)."
    ),
) -> None:
    """Show an endpoint's status, variants and (in table output) recent metrics."""
    desc = send("DescribeEndpoint", request("DescribeEndpoint"))
    if STATE.as_json or STATE.query:
        emit(desc)
        return
    client = STATE.client()
    endpoint_name = desc["EndpointName"]
    head = {k: v for k, v in desc.items() if k not in ("ProductionVariants", "InferpipeInstances")}
    emit(head, title=f"Endpoint {endpoint_name}")
    _variant_rows(desc)
    if metrics:
        _metrics_table(client, endpoint_name)


def _metrics_table(client: ApiClient, name: str, seconds: float = 300) -> None:
    from rich.table import Table

    data = client.call("EndpointMetrics", {"EndpointName": name, "Seconds": seconds}, prefix="Inferpipe")
    if not data["Metrics"]:
        console.print("[dim]No invocations in the last 5 minutes.[/dim]")
        return
    table = Table(title=f"Metrics, last {seconds:.0f} s (latencies in microseconds)", header_style="bold")
    for col in ("Metric", "Variant", "Container", "Sum/Count", "Average", "p50", "p99"):
        table.add_column(col)

    def f(x: Any) -> str:
        return "" if x is None else f"{x:,.0f}"

    for m in data["Metrics"]:
        table.add_row(
            m["MetricName"],
            m["VariantName"],
            m.get("ContainerName", ""),
            f(m.get("Sum", m.get("SampleCount"))),
            f(m.get("Average")),
            f(m.get("p50")),
            f(m.get("p99")),
        )
    console.print(table)


@app.command("metrics", epilog=examples("inferpipe metrics --endpoint-name churn --seconds 60"))
def endpoint_metrics(
    endpoint_name: str = typer.Option(..., "--endpoint-name"),
    seconds: float = typer.Option(300, "--seconds", help="Window to summarize."),
) -> None:
    """Invocations, errors and latencies (ModelLatency, OverheadLatency, ContainerLatency)."""
    client = STATE.client()
    if STATE.as_json or STATE.query:
        emit(client.call("EndpointMetrics", {"EndpointName": endpoint_name, "Seconds": seconds}, prefix="Inferpipe"))
        return
    _metrics_table(client, endpoint_name, seconds)


@app.command(
    "logs",
    epilog=examples(
        "inferpipe logs --endpoint-name churn --container-hostname container-2 --tail 20",
        "inferpipe logs --endpoint-name churn --since 10m --filter-pattern 'ERROR -healthcheck'",
        "inferpipe logs --endpoint-name churn --instance-id g1-i0 --follow",
        "inferpipe logs --transform-job-name nightly --since 2026-01-31T12:00:00Z",
        "inferpipe --output json logs --endpoint-name churn --follow | jq -r .Message",
    ),
)
def logs(
    endpoint_name: str | None = typer.Option(None, "--endpoint-name"),
    transform_job_name: str | None = typer.Option(None, "--transform-job-name"),
    container_hostname: str | None = typer.Option(None, "--container-hostname"),
    instance_id: str | None = typer.Option(None, "--instance-id", help="An instance, as in the stream names (g1-i0)."),
    since: str | None = typer.Option(None, "--since", help="30s, 10m, 2h, 1d ago; an ISO 8601 time; epoch seconds."),
    filter_pattern: str | None = typer.Option(
        None,
        "--filter-pattern",
        help='Terms that must all appear; "a phrase"; -term must not appear; ?a ?b any of them.',
    ),
    tail: int = typer.Option(50, "--tail", help="Last lines per stream."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines as they are written."),
) -> None:
    """Container logs, one stream per variant/instance/container as CloudWatch names them; the logs
    of replaced and removed containers stay readable (INFERPIPE_RETAINED_LOG_BYTES)."""
    if (endpoint_name is None) == (transform_job_name is None):
        raise typer.BadParameter("pass --endpoint-name or --transform-job-name (one of them)")
    try:
        start = log_follow.parse_since(since)
    except log_follow.BadSince as exc:
        raise typer.BadParameter(str(exc)) from None
    req: dict[str, Any] = {"Tail": tail}
    put(req, "EndpointName", endpoint_name)
    put(req, "TransformJobName", transform_job_name)
    put(req, "ContainerHostname", container_hostname)
    put(req, "InstanceId", instance_id)
    put(req, "StartTime", start)
    put(req, "FilterPattern", filter_pattern)
    client = STATE.client()
    if follow:
        with contextlib.suppress(KeyboardInterrupt):
            for group, stream, event in log_follow.poll(client, req):
                log_follow.print_event(group, stream, event, STATE.as_json)
        return
    data = client.call("Logs", req, prefix="Inferpipe")
    if STATE.as_json or STATE.query:
        emit(data)
        return
    log_follow.print_streams(data)


@app.command("list-endpoints", cls=AwsCommand, epilog=examples("inferpipe list-endpoints --status-equals InService"))
def list_endpoints() -> None:
    """List endpoints."""
    emit(
        send_list("ListEndpoints", request("ListEndpoints")),
        columns=["EndpointName", "EndpointStatus", "CreationTime", "LastModifiedTime"],
        rows_key="Endpoints",
    )


@app.command(
    "delete-endpoint", cls=AwsCommand, epilog=examples("inferpipe delete-endpoint --endpoint-name churn --wait")
)
def delete_endpoint(
    wait: bool = typer.Option(False, "--wait", help="Return only when every container is gone."),
    timeout: float = typer.Option(300, "--timeout"),
) -> None:
    """Delete an endpoint: drain, stop and remove its containers."""
    req = request("DeleteEndpoint")
    result = send("DeleteEndpoint", req)
    if wait:
        wait_for(STATE.client(), req["EndpointName"], "Deleted", timeout)
    emit(result)


@wait_app.command("endpoint-in-service", epilog=examples("inferpipe wait endpoint-in-service --endpoint-name churn"))
def wait_in_service(
    endpoint_name: str = typer.Option(..., "--endpoint-name"), timeout: float = typer.Option(900, "--timeout")
) -> None:
    """Wait until the endpoint is InService (exit 255 if it fails)."""
    wait_for(STATE.client(), endpoint_name, "InService", timeout)


@wait_app.command("endpoint-deleted", epilog=examples("inferpipe wait endpoint-deleted --endpoint-name churn"))
def wait_deleted(
    endpoint_name: str = typer.Option(..., "--endpoint-name"), timeout: float = typer.Option(300, "--timeout")
) -> None:
    """Wait until the endpoint is gone."""
    wait_for(STATE.client(), endpoint_name, "Deleted", timeout)


@app.command("events", epilog=examples("inferpipe events --name churn"))
def events(
    kind: str | None = typer.Option(
        None, "--kind", help="model | endpoint-config | endpoint | transform-job | model-package-group | model-package"
    ),
    name: str | None = typer.Option(None, "--name"),
    limit: int = typer.Option(50, "--limit"),
) -> None:
    """The event log: every create, delete and status change the daemon recorded."""
    emit(
        STATE.client().call("Events", {"Kind": kind, "Name": name, "Limit": limit}, prefix="Inferpipe"),
        columns=["Time", "Kind", "Name", "Event", "Detail"],
        rows_key="Events",
    )
