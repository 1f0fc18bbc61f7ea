"""The model registry: model package groups, versioned model packages, approval (the AWS CLI's
shape), and `deploy`, which serves a group's newest Approved version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .app import app, examples
from .context import STATE
from .deploy import apply_spec
from .params import CONTAINER_KEYS, absolutize_model_data, load_spec, load_value, parse_shorthand, parse_tags, put
from .render import emit
from .resources import TAGS_HELP, list_options

GROUP_COLUMNS = ["ModelPackageGroupName", "CreationTime", "ModelPackageGroupStatus", "ModelPackageGroupArn"]
PACKAGE_COLUMNS = [
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelApprovalStatus",
    "CreationTime",
    "ModelPackageArn",
]


@app.command(
    "create-model-package-group",
    epilog=examples(
        "inferpipe create-model-package-group --model-package-group-name wine --description 'Wine pipeline'"
    ),
)
def create_model_package_group(
    model_package_group_name: str = typer.Option(..., "--model-package-group-name"),
    description: str | None = typer.Option(None, "--model-package-group-description", "--description"),
    tags: list[str] | None = typer.Option(None, "--tags", help=TAGS_HELP),
) -> None:
    """Create a model package group: the versions of one model (or pipeline) in the registry."""
    req: dict[str, Any] = {"ModelPackageGroupName": model_package_group_name}
    put(req, "ModelPackageGroupDescription", description)
    put(req, "Tags", parse_tags(tags))
    emit(STATE.client().call("CreateModelPackageGroup", req))


@app.command(
    "describe-model-package-group",
    epilog=examples("inferpipe describe-model-package-group --model-package-group-name wine"),
)
def describe_model_package_group(
    model_package_group_name: str = typer.Option(..., "--model-package-group-name"),
) -> None:
    """Show a model package group."""
    emit(STATE.client().call("DescribeModelPackageGroup", {"ModelPackageGroupName": model_package_group_name}))


@app.command("list-model-package-groups", epilog=examples("inferpipe list-model-package-groups --sort-by Name"))
def list_model_package_groups(
    name_contains: str | None = typer.Option(None, "--name-contains"),
    sort_by: str | None = typer.Option(None, "--sort-by", help="Name | CreationTime"),
    sort_order: str | None = typer.Option(None, "--sort-order", help="Ascending | Descending"),
    max_results: int | None = typer.Option(None, "--max-results"),
    next_token: str | None = typer.Option(None, "--next-token"),
    creation_time_before: str | None = typer.Option(None, "--creation-time-before"),
    creation_time_after: str | None = typer.Option(None, "--creation-time-after"),
) -> None:
    """List model package groups."""
    req: dict[str, Any] = {}
    list_options(
        req, name_contains, sort_by, sort_order, max_results, next_token, creation_time_before, creation_time_after
    )
    emit(
        STATE.client().call("ListModelPackageGroups", req),
        columns=GROUP_COLUMNS,
        rows_key="ModelPackageGroupSummaryList",
    )


@app.command(
    "delete-model-package-group",
    epilog=examples("inferpipe delete-model-package-group --model-package-group-name wine"),
)
def delete_model_package_group(model_package_group_name: str = typer.Option(..., "--model-package-group-name")) -> None:
    """Delete an empty model package group (delete its versions first)."""
    emit(STATE.client().call("DeleteModelPackageGroup", {"ModelPackageGroupName": model_package_group_name}))


@app.command(
    "create-model-package",
    epilog=examples(
        "inferpipe create-model-package --model-package-group-name wine \\\n"
        "  --container image=prep:1,model-data=./prep.tar.gz,hostname=prep \\\n"
        "  --container image=xgb:1,model-data=./xgb.tar.gz,hostname=model \\\n"
        "  --supported-content-types text/csv --supported-response-mime-types application/json",
        "inferpipe create-model-package --model-package-group-name wine \\\n"
        "  --inference-specification file://spec.json --model-approval-status Approved",
        "inferpipe create-model-package -f sample-pipelines/wine/pipeline.yaml --model-package-group-name wine",
    ),
)
def create_model_package(
    model_package_group_name: str | None = typer.Option(None, "--model-package-group-name"),
    description: str | None = typer.Option(None, "--model-package-description", "--description"),
    inference_specification: str | None = typer.Option(
        None, "--inference-specification", help="JSON InferenceSpecification, or file://."
    ),
    container: list[str] | None = typer.Option(
        None, "--container", help="Shorthand image=IMG,model-data=PATH,hostname=H,env.KEY=VAL (repeat, in order)."
    ),
    content_types: list[str] | None = typer.Option(None, "--supported-content-types"),
    response_types: list[str] | None = typer.Option(None, "--supported-response-mime-types"),
    realtime_types: list[str] | None = typer.Option(None, "--supported-realtime-inference-instance-types"),
    transform_types: list[str] | None = typer.Option(None, "--supported-transform-instance-types"),
    approval: str | None = typer.Option(
        None, "--model-approval-status", help="PendingManualApproval (default) | Approved | Rejected"
    ),
    metadata: str | None = typer.Option(
        None, "--customer-metadata-properties", help="Key=Value,Key2=Value2 or JSON / file://."
    ),
    tags: list[str] | None = typer.Option(None, "--tags", help=TAGS_HELP),
    spec: str | None = typer.Option(
        None, "-f", "--file", help="A YAML/JSON request; a pipeline.yaml's model containers work too."
    ),
) -> None:
    """Register a new version in a model package group (versions count up from 1)."""
    base = Path.cwd()
    req: dict[str, Any] = {}
    if spec:
        data, base = load_spec(spec)
        model = data.get("model") if isinstance(data.get("model"), dict) else None
        if model is not None:  # a pipeline spec: register its model's containers
            containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
            req = {"InferenceSpecification": {"Containers": containers}}
        else:
            req = data
    put(req, "ModelPackageGroupName", model_package_group_name)
    put(req, "ModelPackageDescription", description)
    if inference_specification:
        req["InferenceSpecification"] = load_value(inference_specification, "--inference-specification")
    inference = req.setdefault("InferenceSpecification", {})
    if container:
        inference["Containers"] = [parse_shorthand(c, CONTAINER_KEYS, "--container") for c in container]
    for key, values in (
        ("SupportedContentTypes", content_types),
        ("SupportedResponseMIMETypes", response_types),
        ("SupportedRealtimeInferenceInstanceTypes", realtime_types),
        ("SupportedTransformInstanceTypes", transform_types),
    ):
        put(inference, key, values or None)
    if not inference:
        req.pop("InferenceSpecification")
    put(req, "ModelApprovalStatus", approval)
    if metadata:
        req["CustomerMetadataProperties"] = load_value(metadata, "--customer-metadata-properties")
    put(req, "Tags", parse_tags(tags))
    if isinstance(inference.get("Containers"), list):
        absolutize_model_data([c for c in inference["Containers"] if isinstance(c, dict)], base)
    emit(STATE.client().call("CreateModelPackage", req))


@app.command("describe-model-package", epilog=examples("inferpipe describe-model-package --model-package-name wine/2"))
def describe_model_package(
    model_package_name: str = typer.Option(..., "--model-package-name", help="<group>/<version>, or the ARN."),
) -> None:
    """Show a model package version: its containers, approval status and metadata."""
    emit(STATE.client().call("DescribeModelPackage", {"ModelPackageName": model_package_name}))


@app.command(
    "list-model-packages",
    epilog=examples(
        "inferpipe list-model-packages --model-package-group-name wine",
        "inferpipe list-model-packages --model-package-group-name wine --model-approval-status Approved"
        " --sort-order Descending --max-results 1",
    ),
)
def list_model_packages(
    model_package_group_name: str | None = typer.Option(
        None, "--model-package-group-name", help="Without it, only --model-package-type Versioned|Both lists any."
    ),
    approval: str | None = typer.Option(None, "--model-approval-status"),
    package_type: str | None = typer.Option(None, "--model-package-type", help="Versioned | Unversioned | Both"),
    name_contains: str | None = typer.Option(None, "--name-contains"),
    sort_by: str | None = typer.Option(None, "--sort-by", help="Name | CreationTime"),
    sort_order: str | None = typer.Option(None, "--sort-order", help="Ascending | Descending"),
    max_results: int | None = typer.Option(None, "--max-results"),
    next_token: str | None = typer.Option(None, "--next-token"),
    creation_time_before: str | None = typer.Option(None, "--creation-time-before"),
    creation_time_after: str | None = typer.Option(None, "--creation-time-after"),
) -> None:
    """List model package versions."""
    req: dict[str, Any] = {}
    put(req, "ModelPackageGroupName", model_package_group_name)
    put(req, "ModelApprovalStatus", approval)
    put(req, "ModelPackageType", package_type)
    list_options(
        req, name_contains, sort_by, sort_order, max_results, next_token, creation_time_before, creation_time_after
    )
    emit(STATE.client().call("ListModelPackages", req), columns=PACKAGE_COLUMNS, rows_key="ModelPackageSummaryList")


@app.command(
    "update-model-package",
    epilog=examples(
        "inferpipe update-model-package --model-package-arn ARN --model-approval-status Approved \\\n"
        "  --approval-description 'passed the holdout test'",
    ),
)
def update_model_package(
    model_package_arn: str = typer.Option(..., "--model-package-arn"),
    approval: str | None = typer.Option(
        None, "--model-approval-status", help="Approved | Rejected | PendingManualApproval"
    ),
    approval_description: str | None = typer.Option(None, "--approval-description"),
    metadata: str | None = typer.Option(
        None, "--customer-metadata-properties", help="Key=Value,Key2=Value2 or JSON / file://."
    ),
    remove: list[str] | None = typer.Option(None, "--customer-metadata-properties-to-remove"),
) -> None:
    """Approve or reject a version (recorded in the event log), or change its metadata."""
    req: dict[str, Any] = {"ModelPackageArn": model_package_arn}
    put(req, "ModelApprovalStatus", approval)
    put(req, "ApprovalDescription", approval_description)
    if metadata:
        req["CustomerMetadataProperties"] = load_value(metadata, "--customer-metadata-properties")
    put(req, "CustomerMetadataPropertiesToRemove", remove or None)
    emit(STATE.client().call("UpdateModelPackage", req))


@app.command("delete-model-package", epilog=examples("inferpipe delete-model-package --model-package-name wine/1"))
def delete_model_package(
    model_package_name: str = typer.Option(..., "--model-package-name", help="<group>/<version>, or the ARN."),
) -> None:
    """Delete a model package version (models already created from it keep their containers)."""
    emit(STATE.client().call("DeleteModelPackage", {"ModelPackageName": model_package_name}))


@app.command(
    "deploy",
    epilog=examples(
        "inferpipe deploy --model-package-group-name wine --endpoint-name wine",
        "inferpipe deploy --model-package-group-name wine --endpoint-name wine --instance-count 2 \\\n"
        '  --deployment-config \'{"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE",'
        ' "WaitIntervalInSeconds": 0}}}\'',
    ),
)
def deploy(
    model_package_group_name: str = typer.Option(..., "--model-package-group-name"),
    endpoint_name: str = typer.Option(..., "--endpoint-name"),
    instance_count: int = typer.Option(1, "--instance-count"),
    instance_type: str = typer.Option("ml.m5.large", "--instance-type"),
    deployment_config: str | None = typer.Option(None, "--deployment-config", help="JSON, or file://."),
    timeout: float = typer.Option(3600, "--timeout"),
) -> None:
    """Serve a model package group's newest Approved version: create the endpoint, or roll it out
    blue/green when a newer version was approved since (as `apply` does); no change, no action."""
    data: dict[str, Any] = {
        "model": {"ModelName": endpoint_name, "ModelPackageGroupName": model_package_group_name},
        "endpointConfig": {
            "EndpointConfigName": endpoint_name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": endpoint_name,
                    "InitialInstanceCount": instance_count,
                    "InstanceType": instance_type,
                }
            ],
        },
        "endpoint": {"EndpointName": endpoint_name},
    }
    if deployment_config:
        data["deployment"] = load_value(deployment_config, "--deployment-config")
    apply_spec(data, Path.cwd(), timeout)
