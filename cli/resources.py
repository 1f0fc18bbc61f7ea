"""Models and endpoint configs: create, describe, list, delete (the AWS CLI's shape).

Every member of an operation's input is a flag taken from botocore's model (aws_args.py, before
Typer runs); the options declared here are inferpipe's extras on the same commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .app import app, examples
from .aws_command import AwsCommand
from .context import request, send, send_list
from .params import (
    CONTAINER_KEYS,
    VARIANT_KEYS,
    absolute_path,
    absolutize_model_data,
    load_spec,
    parse_shorthand,
)
from .render import emit

SPEC_HELP = "A YAML/JSON file holding the whole request (API member names); a pipeline.yaml works too."


def with_spec(operation: str, spec: str | None, section: str) -> tuple[dict[str, Any], Path]:
    """The request: the -f file's members (if any), then those named on the line over them."""
    base = Path.cwd()
    req: dict[str, Any] = {}
    if spec:
        req, base = load_spec(spec, section)
    req.update(request(operation))
    return req, base


@app.command(
    "create-model",
    cls=AwsCommand,
    epilog=examples(
        "inferpipe create-model --model-name churn --primary-container Image=xgb:1,ModelDataUrl=./xgb.tar.gz",
        "inferpipe create-model --model-name churn --containers file://containers.json --tags Key=team,Value=ml",
        "inferpipe create-model --model-name churn \\\n"
        "  --container image=prep:1,model-data=./prep.tar.gz,hostname=prep \\\n"
        "  --container image=xgb:1,model-data=./xgb.tar.gz,hostname=model",
        "inferpipe create-model -f sample-pipelines/wine/pipeline.yaml",
    ),
)
def create_model(
    container: list[str] | None = typer.Option(
        None, "--container", help="Shorthand image=IMG,model-data=PATH,hostname=H,env.KEY=VAL (repeat, in order)."
    ),
    spec: str | None = typer.Option(None, "-f", "--file", help=SPEC_HELP),
) -> None:
    """Create a model: one container, or a serial pipeline of 2-15 containers."""
    req, base = with_spec("CreateModel", spec, "model")
    if container:
        req["Containers"] = [parse_shorthand(c, CONTAINER_KEYS, "--container") for c in container]
    if isinstance(req.get("Containers"), list):
        absolutize_model_data([c for c in req["Containers"] if isinstance(c, dict)], base)
    if isinstance(req.get("PrimaryContainer"), dict):
        absolutize_model_data([req["PrimaryContainer"]], base)
    emit(send("CreateModel", req))


@app.command("describe-model", cls=AwsCommand, epilog=examples("inferpipe describe-model --model-name churn"))
def describe_model() -> None:
    """Show a model as DescribeModel returns it."""
    emit(send("DescribeModel", request("DescribeModel")))


@app.command(
    "list-models", cls=AwsCommand, epilog=examples("inferpipe list-models --name-contains churn --sort-by Name")
)
def list_models() -> None:
    """List models."""
    emit(
        send_list("ListModels", request("ListModels")),
        columns=["ModelName", "CreationTime", "ModelArn"],
        rows_key="Models",
    )


@app.command("delete-model", cls=AwsCommand, epilog=examples("inferpipe delete-model --model-name churn"))
def delete_model() -> None:
    """Delete a model record (endpoints already using it keep serving)."""
    emit(send("DeleteModel", request("DeleteModel")))


@app.command(
    "create-endpoint-config",
    cls=AwsCommand,
    epilog=examples(
        "inferpipe create-endpoint-config --endpoint-config-name churn-cfg \\\n"
        "  --production-variants VariantName=AllTraffic,ModelName=churn,InitialInstanceCount=2,"
        "InstanceType=ml.m5.large",
        "inferpipe create-endpoint-config --endpoint-config-name churn-cfg \\\n"
        "  --variant name=AllTraffic,model=churn,instances=2,weight=1,instance-type=ml.m5.large",
        "inferpipe create-endpoint-config -f sample-pipelines/wine/pipeline.yaml",
    ),
)
def create_endpoint_config(
    variant: list[str] | None = typer.Option(
        None, "--variant", help="Shorthand name=V,model=M,instances=N,weight=W,instance-type=T (repeatable)."
    ),
    spec: str | None = typer.Option(None, "-f", "--file", help=SPEC_HELP),
) -> None:
    """Create an endpoint configuration: which models, how many instances, what weights."""
    req, base = with_spec("CreateEndpointConfig", spec, "endpointConfig")
    if variant:
        req["ProductionVariants"] = [parse_shorthand(v, VARIANT_KEYS, "--variant") for v in variant]
    if "DataCaptureConfig" in request("CreateEndpointConfig"):
        base = Path.cwd()  # a flag's relative path is the working directory's, not the -f file's
    capture = req.get("DataCaptureConfig")
    if isinstance(capture, dict):  # a local destination: the daemon does not share the working directory
        capture["DestinationS3Uri"] = absolute_path(capture.get("DestinationS3Uri"), base)
    emit(send("CreateEndpointConfig", req))


@app.command(
    "describe-endpoint-config",
    cls=AwsCommand,
    epilog=examples("inferpipe describe-endpoint-config --endpoint-config-name churn-cfg"),
)
def describe_endpoint_config() -> None:
    """Show an endpoint configuration."""
    emit(send("DescribeEndpointConfig", request("DescribeEndpointConfig")))


@app.command("list-endpoint-configs", cls=AwsCommand, epilog=examples("inferpipe list-endpoint-configs --output json"))
def list_endpoint_configs() -> None:
    """List endpoint configurations."""
    emit(
        send_list("ListEndpointConfigs", request("ListEndpointConfigs")),
        columns=["EndpointConfigName", "CreationTime", "EndpointConfigArn"],
        rows_key="EndpointConfigs",
    )


@app.command(
    "delete-endpoint-config",
    cls=AwsCommand,
    epilog=examples("inferpipe delete-endpoint-config --endpoint-config-name churn-cfg"),
)
def delete_endpoint_config() -> None:
    """Delete an endpoint configuration (endpoints created from it keep serving)."""
    emit(send("DeleteEndpointConfig", request("DeleteEndpointConfig")))


@app.command(
    "add-tags",
    cls=AwsCommand,
    epilog=examples("inferpipe add-tags --resource-arn ARN --tags Key=team,Value=ml Key=stage,Value=dev"),
)
def add_tags() -> None:
    """Add or overwrite tags on a model, endpoint config or endpoint."""
    emit(send("AddTags", request("AddTags")))


@app.command("list-tags", cls=AwsCommand, epilog=examples("inferpipe list-tags --resource-arn ARN"))
def list_tags() -> None:
    """List a resource's tags."""
    emit(send_list("ListTags", request("ListTags")), columns=["Key", "Value"], rows_key="Tags")


@app.command(
    "delete-tags", cls=AwsCommand, epilog=examples("inferpipe delete-tags --resource-arn ARN --tag-keys team stage")
)
def delete_tags() -> None:
    """Remove tags from a resource."""
    emit(send("DeleteTags", request("DeleteTags")))
