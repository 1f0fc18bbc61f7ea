"""The model registry: model package groups, versioned model packages, approval (the AWS CLI's
shape), and `deploy`, which serves a group's newest Approved version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .app import app, examples
from .aws_command import AwsCommand
from .context import request, send, send_list
from .deploy import apply_spec
from .params import CONTAINER_KEYS, absolutize_model_data, load_spec, load_value, parse_shorthand, put
from .render import emit

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
    cls=AwsCommand,
    epilog=examples(
        "inferpipe create-model-package-group --model-package-group-name wine"
        " --model-package-group-description 'Wine pipeline' --tags Key=team,Value=ml"
    ),
)
def create_model_package_group(
    description: str | None = typer.Option(None, "--description", help="Short for --model-package-group-description."),
) -> None:
    """Create a model package group: the versions of one model (or pipeline) in the registry."""
    req = request("CreateModelPackageGroup")
    if description is not None:
        req.setdefault("ModelPackageGroupDescription", description)
    emit(send("CreateModelPackageGroup", req))


@app.command(
    "describe-model-package-group",
    cls=AwsCommand,
    epilog=examples("inferpipe describe-model-package-group --model-package-group-name wine"),
)
def describe_model_package_group() -> None:
    """Show a model package group."""
    emit(send("DescribeModelPackageGroup", request("DescribeModelPackageGroup")))


@app.command(
    "list-model-package-groups",
    cls=AwsCommand,
    epilog=examples("inferpipe list-model-package-groups --sort-by Name"),
)
def list_model_package_groups() -> None:
    """List model package groups."""
    emit(
        send_list("ListModelPackageGroups", request("ListModelPackageGroups")),
        columns=GROUP_COLUMNS,
        rows_key="ModelPackageGroupSummaryList",
    )


@app.command(
    "delete-model-package-group",
    cls=AwsCommand,
    epilog=examples("inferpipe delete-model-package-group --model-package-group-name wine"),
)
def delete_model_package_group() -> None:
    """Delete an empty model package group (delete its versions first)."""
    emit(send("DeleteModelPackageGroup", request("DeleteModelPackageGroup")))


@app.command(
    "create-model-package",
    cls=AwsCommand,
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
    description: str | None = typer.Option(None, "--description", help="Short for --model-package-description."),
    container: list[str] | None = typer.Option(
        None, "--container", help="Shorthand image=IMG,model-data=PATH,hostname=H,env.KEY=VAL (repeat, in order)."
    ),
    content_types: list[str] | None = typer.Option(
        None, "--supported-content-types", help="InferenceSpecification.SupportedContentTypes (repeatable)."
    ),
    response_types: list[str] | None = typer.Option(
        None, "--supported-response-mime-types", help="InferenceSpecification.SupportedResponseMIMETypes (repeatable)."
    ),
    realtime_types: list[str] | None = typer.Option(
        None,
        "--supported-realtime-inference-instance-types",
        help="InferenceSpecification.SupportedRealtimeInferenceInstanceTypes (repeatable).",
    ),
    transform_types: list[str] | None = typer.Option(
        None,
        "--supported-transform-instance-types",
        help="InferenceSpecification.SupportedTransformInstanceTypes (repeatable).",
    ),
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
    line = request("CreateModelPackage")
    if "InferenceSpecification" in line:
        base = Path.cwd()  # a flag's relative paths are the working directory's, not the -f file's
    req.update(line)
    if description is not None:
        req.setdefault("ModelPackageDescription", description)
    inference = req.setdefault("InferenceSpecification", {})
    if not isinstance(inference, dict):
        inference = {}  # not a structure: botocore's validator says so when it is sent
    if container:
        inference["Containers"] = [parse_shorthand(c, CONTAINER_KEYS, "--container") for c in container]
    for key, values in (
        ("SupportedContentTypes", content_types),
        ("SupportedResponseMIMETypes", response_types),
        ("SupportedRealtimeInferenceInstanceTypes", realtime_types),
        ("SupportedTransformInstanceTypes", transform_types),
    ):
        put(inference, key, values or None)
    if req.get("InferenceSpecification") == {}:
        req.pop("InferenceSpecification")
    if isinstance(inference.get("Containers"), list):
        absolutize_model_data([c for c in inference["Containers"] if isinstance(c, dict)], base)
    emit(send("CreateModelPackage", req))


@app.command(
    "describe-model-package",
    cls=AwsCommand,
    epilog=examples("inferpipe describe-model-package --model-package-name wine/2    # <group>/<version>, or the ARN"),
)
def describe_model_package() -> None:
    """Show a model package version: its containers, approval status and metadata."""
    emit(send("DescribeModelPackage", request("DescribeModelPackage")))


@app.command(
    "list-model-packages",
    cls=AwsCommand,
    epilog=examples(
        "inferpipe list-model-packages --model-package-group-name wine",
        "inferpipe list-model-packages --model-package-group-name wine --model-approval-status Approved"
        " --sort-order Descending --max-results 1",
    ),
)
def list_model_packages() -> None:
    """List model package versions (without a group, only --model-package-type Versioned|Both lists any)."""
    emit(
        send_list("ListModelPackages", request("ListModelPackages")),
        columns=PACKAGE_COLUMNS,
        rows_key="ModelPackageSummaryList",
    )


@app.command(
    "update-model-package",
    cls=AwsCommand,
    epilog=examples(
        "inferpipe update-model-package --model-package-arn ARN --model-approval-status Approved \\\n"
        "  --approval-description 'passed the holdout test'",
    ),
)
def update_model_package() -> None:
    """Approve or reject a version (recorded in the event log), or change its metadata."""
    emit(send("UpdateModelPackage", request("UpdateModelPackage")))


@app.command(
    "delete-model-package",
    cls=AwsCommand,
    epilog=examples("inferpipe delete-model-package --model-package-name wine/1"),
)
def delete_model_package() -> None:
    """Delete a model package version (models already created from it keep their containers)."""
    emit(send("DeleteModelPackage", request("DeleteModelPackage")))


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
