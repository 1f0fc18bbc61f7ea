"""Updating live endpoints: update-endpoint (blue/green, watched live), weights and capacities,
local alarms for auto-rollback, and `apply` for declarative pipeline specs."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from inferpipe.cli.client import ApiClient, ApiError

from .app import app, examples
from .aws_command import AwsCommand
from .context import STATE, request, send
from .endpoints import wait_for
from .params import absolutize_model_data, load_spec, parse_shorthand, put
from .render import emit, err_console


def _view(desc: dict[str, Any], target: str) -> Panel:
    live = desc.get("InferpipeDeployment") or {}
    share = float(live.get("GreenShare", 0.0))
    if desc.get("EndpointStatus") == "InService" and not live:
        done = desc.get("EndpointConfigName") == target
        live = {
            "Phase": "Complete" if done else "Rolled back",
            "Message": "" if done else desc.get("FailureReason", ""),
        }
        share = 1.0 if done else 0.0
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column()
    table.add_row("Status", desc.get("EndpointStatus", ""))
    table.add_row("Stage", f"{live.get('Phase', '-')} {live.get('Step', '')}".strip())
    table.add_row("Message", live.get("Message", ""))
    bar = ProgressBar(total=100, completed=share * 100, width=40)
    split = Table.grid(padding=(0, 1))
    split.add_row(Text(f"old {1 - share:>4.0%}"), bar, Text(f"{share:>4.0%} new"))
    table.add_row("Traffic", split)
    if "BakeSecondsLeft" in live:
        table.add_row("Bake", f"{live['BakeSecondsLeft']:.0f} s left")
    alarms = live.get("Alarms") or {}
    if alarms:
        table.add_row("Alarms", ", ".join(f"{k}: {v}" for k, v in alarms.items()))
    return Panel(Group(table), title=f"{desc.get('EndpointName')} → {target}")


def watch_update(client: ApiClient, name: str, target: str, timeout: float) -> dict[str, Any]:
    """Follow a deployment until the endpoint is InService again; raise with the reason if it
    rolled back."""
    deadline = time.monotonic() + timeout
    show = not STATE.as_json
    desc = client.call("DescribeEndpoint", {"EndpointName": name})
    with (
        Live(_view(desc, target), console=err_console, refresh_per_second=4, transient=False)
        if show
        else _Null() as live
    ):
        while True:
            desc = client.call("DescribeEndpoint", {"EndpointName": name})
            if show:
                live.update(_view(desc, target))
            if desc["EndpointStatus"] != "Updating":
                break
            if time.monotonic() > deadline:
                raise ApiError(
                    "WaiterTimeout", f"Endpoint {name} is still Updating after {timeout:.0f} s.", "DescribeEndpoint"
                )
            time.sleep(0.5)
    if desc["EndpointStatus"] != "InService" or desc.get("EndpointConfigName") != target:
        raise ApiError(
            "DeploymentRolledBack",
            f"Endpoint {name} stayed on {desc.get('EndpointConfigName')}: {desc.get('FailureReason', '')}",
            "UpdateEndpoint",
        )
    return desc


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *_: object) -> None:
        return None


@app.command(
    "update-endpoint",
    cls=AwsCommand,
    epilog=examples(
        "inferpipe update-endpoint --endpoint-name wine --endpoint-config-name wine-v2 --wait",
        (
            "inferpipe update-endpoint --endpoint-name wine --endpoint-config-name wine-v2 --wait \\\n"
            '  --deployment-config \'{"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "CANARY",'
            ' "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}, "WaitIntervalInSeconds": 60}},'
            ' "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "wine-5xx"}]}}\''
        ),
    ),
)
def update_endpoint(
    wait: bool = typer.Option(False, "--wait", help="Show the deployment live; exit 1 if it rolls back."),
    timeout: float = typer.Option(3600, "--timeout"),
) -> None:
    """Deploy a new endpoint config blue/green: new fleet, traffic shift, bake, old fleet removed."""
    req = request("UpdateEndpoint")
    result = send("UpdateEndpoint", req)
    if wait:
        watch_update(STATE.client(), req["EndpointName"], req["EndpointConfigName"], timeout)
    emit(result)


@app.command(
    "update-endpoint-weights-and-capacities",
    cls=AwsCommand,
    epilog=examples(
        (
            "inferpipe update-endpoint-weights-and-capacities --endpoint-name wine \\\n"
            '  --desired-weights-and-capacities \'[{"VariantName": "AllTraffic", "DesiredInstanceCount": 3}]\''
        ),
        "inferpipe update-endpoint-weights-and-capacities --endpoint-name wine --variant name=A,weight=0.2 --wait",
    ),
)
def update_weights(
    variant: list[str] | None = typer.Option(None, "--variant", help="Shorthand name=V,weight=W,instances=N."),
    wait: bool = typer.Option(False, "--wait"),
    timeout: float = typer.Option(600, "--timeout"),
) -> None:
    """Change variant weights and instance counts of a live endpoint (scale out first, drain before scale in)."""
    req = request("UpdateEndpointWeightsAndCapacities")
    changes: list[dict[str, Any]] = list(req.get("DesiredWeightsAndCapacities") or [])
    for v in variant or []:
        changes.append(
            parse_shorthand(
                v, {"name": "VariantName", "weight": "DesiredWeight", "instances": "DesiredInstanceCount"}, "--variant"
            )
        )
    if changes:
        req["DesiredWeightsAndCapacities"] = changes
    result = send("UpdateEndpointWeightsAndCapacities", req)
    if wait:
        wait_for(STATE.client(), req["EndpointName"], "InService", timeout)
    emit(result)


@app.command(
    "put-metric-alarm",
    epilog=examples(
        (
            "inferpipe put-metric-alarm --alarm-name wine-5xx --metric-name Invocation5XXErrors \\\n"
            "  --namespace AWS/SageMaker --statistic Sum --period 10 --evaluation-periods 1 --threshold 0 \\\n"
            "  --comparison-operator GreaterThanThreshold --dimensions Name=EndpointName,Value=wine"
        ),
    ),
)
def put_metric_alarm(
    alarm_name: str = typer.Option(..., "--alarm-name"),
    metric_name: str = typer.Option(
        ...,
        "--metric-name",
        help="Invocations, Invocation4XXErrors, Invocation5XXErrors,"
        " InvocationModelErrors, ModelLatency, OverheadLatency, ContainerLatency.",
    ),
    namespace: str = typer.Option("AWS/SageMaker", "--namespace"),
    statistic: str | None = typer.Option(None, "--statistic", help="SampleCount, Average, Sum, Minimum, Maximum."),
    extended_statistic: str | None = typer.Option(None, "--extended-statistic", help="e.g. p99"),
    period: int = typer.Option(60, "--period", help="Seconds: 10, 30 or a multiple of 60."),
    evaluation_periods: int = typer.Option(1, "--evaluation-periods"),
    threshold: float = typer.Option(..., "--threshold"),
    comparison_operator: str = typer.Option(..., "--comparison-operator"),
    dimensions: list[str] = typer.Option(..., "--dimensions", help="Name=EndpointName,Value=E (repeatable)."),
) -> None:
    """Create or replace a local alarm over an endpoint's metrics (used by AutoRollbackConfiguration)."""
    dims = []
    for d in dimensions:
        for chunk in d.split(" "):
            parts = dict(p.split("=", 1) for p in chunk.split(",") if "=" in p)
            if parts:
                dims.append({"Name": parts.get("Name"), "Value": parts.get("Value")})
    req: dict[str, Any] = {
        "AlarmName": alarm_name,
        "MetricName": metric_name,
        "Namespace": namespace,
        "Period": period,
        "EvaluationPeriods": evaluation_periods,
        "Threshold": threshold,
        "ComparisonOperator": comparison_operator,
        "Dimensions": dims,
    }
    put(req, "Statistic", statistic)
    put(req, "ExtendedStatistic", extended_statistic)
    emit(STATE.client().call("PutMetricAlarm", req, prefix="Inferpipe"))


@app.command("describe-alarms", epilog=examples("inferpipe describe-alarms --alarm-names wine-5xx"))
def describe_alarms(alarm_names: list[str] | None = typer.Option(None, "--alarm-names")) -> None:
    """Show local alarms and their current state (OK, ALARM, INSUFFICIENT_DATA)."""
    emit(
        STATE.client().call("DescribeAlarms", {"AlarmNames": alarm_names or []}, prefix="Inferpipe"),
        columns=["AlarmName", "StateValue", "MetricName", "Statistic", "Threshold", "StateReason"],
        rows_key="MetricAlarms",
    )


@app.command("delete-alarms", epilog=examples("inferpipe delete-alarms --alarm-names wine-5xx"))
def delete_alarms(alarm_names: list[str] = typer.Option(..., "--alarm-names")) -> None:
    """Delete local alarms."""
    emit(STATE.client().call("DeleteAlarms", {"AlarmNames": alarm_names}, prefix="Inferpipe"))


def _digest(obj: Any, files: list[Path] = ()) -> str:  # type: ignore[assignment]
    h = hashlib.sha256(json.dumps(obj, sort_keys=True).encode())
    for f in files:
        if f.is_file():
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:8]


def _versioned(base: str, digest: str) -> str:
    return f"{base[:54].rstrip('-')}-{digest}"


def _exists(client: ApiClient, op: str, key: str, name: str) -> bool:
    try:
        client.call(op, {key: name})
        return True
    except ApiError as exc:
        if exc.code == "ValidationException":
            return False
        raise


@app.command(
    "apply",
    epilog=examples(
        "inferpipe apply -f sample-pipelines/wine/pipeline.yaml",
        "inferpipe apply -f sample-pipelines/wine/pipeline-v2.yaml   # blue/green update, watched live",
        "inferpipe apply -f registry.yaml   # model: {ModelName: wine, ModelPackageGroupName: wine}",
    ),
)
def apply(
    spec: str = typer.Option(
        ..., "-f", "--file", help="A pipeline spec: model, endpointConfig, endpoint, and optional deployment, alarms."
    ),
    timeout: float = typer.Option(3600, "--timeout"),
) -> None:
    """Make the endpoint match a pipeline spec: create what is missing, or roll out a changed spec
    blue/green under new immutable model/config names (suffixed by a content hash); no change, no action.
    A model section naming a ModelPackageGroupName (instead of containers) deploys that group's newest
    Approved version."""
    data, base = load_spec(spec)
    apply_spec(data, base, timeout)


def latest_approved(client: ApiClient, group: str) -> str:
    """The ARN of the newest Approved version in a model package group."""
    found = client.call(
        "ListModelPackages",
        {
            "ModelPackageGroupName": group,
            "ModelApprovalStatus": "Approved",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": 1,
        },
    )["ModelPackageSummaryList"]
    if not found:
        raise ApiError(
            "ValidationException",
            f"Model package group {group} has no Approved version to deploy. Approve one with:"
            f" inferpipe update-model-package --model-package-arn ARN --model-approval-status Approved"
            f" (list them with: inferpipe list-model-packages --model-package-group-name {group})",
            "ListModelPackages",
        )
    return str(found[0]["ModelPackageArn"])


def apply_spec(data: dict[str, Any], base: Path, timeout: float) -> None:
    """`apply` on a spec already read (the `deploy` shortcut builds one)."""
    for key in ("model", "endpointConfig", "endpoint"):
        if not isinstance(data.get(key), dict):
            raise typer.BadParameter(f"the spec needs a '{key}' section", param_hint="-f")
    model = copy.deepcopy(data["model"])
    client = STATE.client()
    group = model.pop("ModelPackageGroupName", None)
    if group is not None and (model.get("Containers") or model.get("PrimaryContainer")):
        raise typer.BadParameter(
            "the model section names both ModelPackageGroupName and containers: give one of them", param_hint="-f"
        )
    if group is not None:
        # A registry-backed spec: the group's newest Approved version, so approving a new version
        # and applying again rolls it out (its ARN changes the model's digest, hence its name).
        model["PrimaryContainer"] = {"ModelPackageName": latest_approved(client, str(group))}
    containers = model.get("Containers") or ([model["PrimaryContainer"]] if model.get("PrimaryContainer") else [])
    absolutize_model_data(containers, base)
    files = [Path(c["ModelDataUrl"]) for c in containers if str(c.get("ModelDataUrl", "")).startswith("/")]
    model_base = model["ModelName"]
    model["ModelName"] = _versioned(model_base, _digest(model, files))
    config = copy.deepcopy(data["endpointConfig"])
    for v in config.get("ProductionVariants", []):
        if v.get("ModelName") in (None, model_base):
            v["ModelName"] = model["ModelName"]
    config["EndpointConfigName"] = _versioned(config["EndpointConfigName"], _digest(config))
    endpoint = dict(data["endpoint"])
    name = endpoint["EndpointName"]
    deployment = data.get("deployment")
    for alarm in data.get("alarms") or []:  # guardrails the deployment policy refers to
        client.call("PutMetricAlarm", alarm, prefix="Inferpipe")
    if not _exists(client, "DescribeModel", "ModelName", model["ModelName"]):
        client.call("CreateModel", model)
    if not _exists(client, "DescribeEndpointConfig", "EndpointConfigName", config["EndpointConfigName"]):
        client.call("CreateEndpointConfig", config)
    try:
        current = client.call("DescribeEndpoint", {"EndpointName": name})
    except ApiError as exc:
        if exc.code != "ValidationException":
            raise
        current = None
    if current is None:
        req = {**endpoint, "EndpointConfigName": config["EndpointConfigName"]}
        if deployment:
            req["DeploymentConfig"] = deployment
        client.call("CreateEndpoint", req)
        wait_for(client, name, "InService", timeout)
        action = "created"
    elif current.get("EndpointConfigName") == config["EndpointConfigName"] and current["EndpointStatus"] == "InService":
        action = "unchanged"
    else:
        if current["EndpointStatus"] == "Updating":
            watch_update(
                client, name, current.get("PendingDeploymentSummary", {}).get("EndpointConfigName", ""), timeout
            )
        req = {"EndpointName": name, "EndpointConfigName": config["EndpointConfigName"]}
        if deployment:
            req["DeploymentConfig"] = deployment
        client.call("UpdateEndpoint", req)
        watch_update(client, name, config["EndpointConfigName"], timeout)
        action = "updated"
    emit(
        {
            "Action": action,
            "EndpointName": name,
            "EndpointConfigName": config["EndpointConfigName"],
            "ModelName": model["ModelName"],
        }
    )
