"""Models and endpoint configs: create, describe, list, delete (the AWS CLI's shape)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .app import app, examples
from .context import STATE
from .params import (
    CONTAINER_KEYS,
    VARIANT_KEYS,
    absolute_path,
    absolutize_model_data,
    load_spec,
    load_value,
    parse_shorthand,
    parse_tags,
    put,
)
from .render import emit

SPEC_HELP = "A YAML/JSON file holding the whole request (API member names); a pipeline.yaml works too."
TAGS_HELP = "Tags as Key=Value (repeatable) or JSON / file://."


def list_options(
    req: dict[str, Any],
    name_contains: str | None,
    sort_by: str | None,
    sort_order: str | None,
    max_results: int | None,
    next_token: str | None,
    before: str | None,
    after: str | None,
) -> None:
    put(req, "NameContains", name_contains)
    put(req, "SortBy", sort_by)
    put(req, "SortOrder", sort_order)
    put(req, "MaxResults", max_results)
    put(req, "NextToken", next_token)
    put(req, "CreationTimeBefore", before)
    put(req, "CreationTimeAfter", after)


@app.command(
    "create-model",
    epilog=examples(
        "inferpipe create-model --model-name churn --containers file://containers.json",
        "inferpipe create-model --model-name churn \\\n"
        "  --container image=prep:1,model-data=./prep.tar.gz,hostname=prep \\\n"
        "  --container image=xgb:1,model-data=./xgb.tar.gz,hostname=model",
        "inferpipe create-model -f sample-pipelines/wine/pipeline.yaml",
    ),
)
def create_model(
    model_name: str | None = typer.Option(None, "--model-name", help="Name of the model."),
    containers: str | None = typer.Option(None, "--containers", help="JSON list of ContainerDefinitions, or file://."),
    primary_container: str | None = typer.Option(
        None, "--primary-container", help="JSON ContainerDefinition, or file://."
    ),
    container: list[str] | None = typer.Option(
        None, "--container", help="Shorthand image=IMG,model-data=PATH,hostname=H,env.KEY=VAL (repeat, in order)."
    ),
    inference_execution_config: str | None = typer.Option(
        None, "--inference-execution-config", help='JSON, e.g. {"Mode": "Direct"}.'
    ),
    execution_role_arn: str | None = typer.Option(None, "--execution-role-arn"),
    tags: list[str] | None = typer.Option(None, "--tags", help=TAGS_HELP),
    spec: str | None = typer.Option(None, "-f", "--file", help=SPEC_HELP),
) -> None:
    """Create a model: one container, or a serial pipeline of 2-15 containers."""
    base = Path.cwd()
    req: dict[str, Any] = {}
    if spec:
        req, base = load_spec(spec, "model")
    put(req, "ModelName", model_name)
    if containers:
        req["Containers"] = load_value(containers, "--containers")
    if container:
        req["Containers"] = [parse_shorthand(c, CONTAINER_KEYS, "--container") for c in container]
    if primary_container:
        req["PrimaryContainer"] = load_value(primary_container, "--primary-container")
    if inference_execution_config:
        req["InferenceExecutionConfig"] = load_value(inference_execution_config, "--inference-execution-config")
    put(req, "ExecutionRoleArn", execution_role_arn)
    put(req, "Tags", parse_tags(tags))
    if isinstance(req.get("Containers"), list):
        absolutize_model_data([c for c in req["Containers"] if isinstance(c, dict)], base)
    if isinstance(req.get("PrimaryContainer"), dict):
        absolutize_model_data([req["PrimaryContainer"]], base)
    emit(STATE.client().call("CreateModel", req))


@app.command("describe-model", epilog=examples("inferpipe describe-model --model-name churn"))
def describe_model(model_name: str = typer.Option(..., "--model-name")) -> None:
    """Show a model as DescribeModel returns it."""
    emit(STATE.client().call("DescribeModel", {"ModelName": model_name}))


@app.command("list-models", epilog=examples("inferpipe list-models --name-contains churn --sort-by Name"))
def list_models(
    name_contains: str | None = typer.Option(None, "--name-contains"),
    sort_by: str | None = typer.Option(None, "--sort-by", help="Name | CreationTime"),
    sort_order: str | None = typer.Option(None, "--sort-order", help="Ascending | Descending"),
    max_results: int | None = typer.Option(None, "--max-results"),
    next_token: str | None = typer.Option(None, "--next-token"),
    creation_time_before: str | None = typer.Option(None, "--creation-time-before"),
    creation_time_after: str | None = typer.Option(None, "--creation-time-after"),
) -> None:
    """List models."""
    req: dict[str, Any] = {}
    list_options(
        req, name_contains, sort_by, sort_order, max_results, next_token, creation_time_before, creation_time_after
    )
    emit(STATE.paginated("ListModels", req), columns=["ModelName", "CreationTime", "ModelArn"], rows_key="Models")


@app.command("delete-model", epilog=examples("inferpipe delete-model --model-name churn"))
def delete_model(model_name: str = typer.Option(..., "--model-name")) -> None:
    """Delete a model record (endpoints already using it keep serving)."""
    emit(STATE.client().call("DeleteModel", {"ModelName": model_name}))


@app.command(
    "create-endpoint-config",
    epilog=examples(
        "inferpipe create-endpoint-config --endpoint-config-name churn-cfg \\\n"
        '  --production-variants \'[{"VariantName":"AllTraffic","ModelName":"churn",'
        '"InitialInstanceCount":2,"InstanceType":"ml.m5.large"}]\'',
        "inferpipe create-endpoint-config --endpoint-config-name churn-cfg \\\n"
        "  --variant name=AllTraffic,model=churn,instances=2,weight=1,instance-type=ml.m5.large",
        "inferpipe create-endpoint-config -f sample-pipelines/wine/pipeline.yaml",
    ),
)
def create_endpoint_config(
    endpoint_config_name: str | None = typer.Option(None, "--endpoint-config-name"),
    production_variants: str | None = typer.Option(None, "--production-variants", help="JSON list, or file://."),
    variant: list[str] | None = typer.Option(
        None, "--variant", help="Shorthand name=V,model=M,instances=N,weight=W,instance-type=T (repeatable)."
    ),
    data_capture_config: str | None = typer.Option(None, "--data-capture-config", help="JSON, or file://."),
    kms_key_id: str | None = typer.Option(None, "--kms-key-id"),
    tags: list[str] | None = typer.Option(None, "--tags", help=TAGS_HELP),
    spec: str | None = typer.Option(None, "-f", "--file", help=SPEC_HELP),
) -> None:
    """Create an endpoint configuration: which models, how many instances, what weights."""
    req: dict[str, Any] = {}
    base: Path | None = None
    if spec:
        req, base = load_spec(spec, "endpointConfig")
    put(req, "EndpointConfigName", endpoint_config_name)
    if production_variants:
        req["ProductionVariants"] = load_value(production_variants, "--production-variants")
    if variant:
        req["ProductionVariants"] = [parse_shorthand(v, VARIANT_KEYS, "--variant") for v in variant]
    if data_capture_config:
        req["DataCaptureConfig"] = load_value(data_capture_config, "--data-capture-config")
        base = None  # a flag's relative path is the working directory's
    capture = req.get("DataCaptureConfig")
    if isinstance(capture, dict):  # a local destination: the daemon does not share the working directory
        capture["DestinationS3Uri"] = absolute_path(capture.get("DestinationS3Uri"), base)
    put(req, "KmsKeyId", kms_key_id)
    put(req, "Tags", parse_tags(tags))
    emit(STATE.client().call("CreateEndpointConfig", req))


@app.command(
    "describe-endpoint-config",
    epilog=examples("inferpipe describe-endpoint-config --endpoint-config-name churn-cfg"),
)
def describe_endpoint_config(endpoint_config_name: str = typer.Option(..., "--endpoint-config-name")) -> None:
    """Show an endpoint configuration."""
    emit(STATE.client().call("DescribeEndpointConfig", {"EndpointConfigName": endpoint_config_name}))


@app.command("list-endpoint-configs", epilog=examples("inferpipe list-endpoint-configs --output json"))
def list_endpoint_configs(
    name_contains: str | None = typer.Option(None, "--name-contains"),
    sort_by: str | None = typer.Option(None, "--sort-by", help="Name | CreationTime"),
    sort_order: str | None = typer.Option(None, "--sort-order", help="Ascending | Descending"),
    max_results: int | None = typer.Option(None, "--max-results"),
    next_token: str | None = typer.Option(None, "--next-token"),
    creation_time_before: str | None = typer.Option(None, "--creation-time-before"),
    creation_time_after: str | None = typer.Option(None, "--creation-time-after"),
) -> None:
    """List endpoint configurations."""
    req: dict[str, Any] = {}
    list_options(
        req, name_contains, sort_by, sort_order, max_results, next_token, creation_time_before, creation_time_after
    )
    emit(
        STATE.paginated("ListEndpointConfigs", req),
        columns=["EndpointConfigName", "CreationTime", "EndpointConfigArn"],
        rows_key="EndpointConfigs",
    )


@app.command(
    "delete-endpoint-config", epilog=examples("inferpipe delete-endpoint-config --endpoint-config-name churn-cfg")
)
def delete_endpoint_config(endpoint_config_name: str = typer.Option(..., "--endpoint-config-name")) -> None:
    """Delete an endpoint configuration (endpoints created from it keep serving)."""
    emit(STATE.client().call("DeleteEndpointConfig", {"EndpointConfigName": endpoint_config_name}))


@app.command("add-tags", epilog=examples("inferpipe add-tags --resource-arn ARN --tags team=ml"))
def add_tags(
    resource_arn: str = typer.Option(..., "--resource-arn"),
    tags: list[str] = typer.Option(..., "--tags", help=TAGS_HELP),
) -> None:
    """Add or overwrite tags on a model, endpoint config or endpoint."""
    emit(STATE.client().call("AddTags", {"ResourceArn": resource_arn, "Tags": parse_tags(tags)}))


@app.command("list-tags", epilog=examples("inferpipe list-tags --resource-arn ARN"))
def list_tags(resource_arn: str = typer.Option(..., "--resource-arn")) -> None:
    """List a resource's tags."""
    emit(STATE.paginated("ListTags", {"ResourceArn": resource_arn}), columns=["Key", "Value"], rows_key="Tags")


@app.command("delete-tags", epilog=examples("inferpipe delete-tags --resource-arn ARN --tag-keys team"))
def delete_tags(
    resource_arn: str = typer.Option(..., "--resource-arn"), tag_keys: list[str] = typer.Option(..., "--tag-keys")
) -> None:
    """Remove tags from a resource."""
    emit(STATE.client().call("DeleteTags", {"ResourceArn": resource_arn, "TagKeys": tag_keys}))
