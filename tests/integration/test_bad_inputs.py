"""Every validation rule of the model and endpoint-config operations, one row each: the request is
refused with ValidationException, HTTP 400 and the service's exact message (or its exact shape,
where it embeds a rendered structure), and the store is left as it was.

Requests go through unmodified boto3 unless botocore refuses them client-side (it checks required
members, types and minimums), in which case the same JSON goes over the wire by hand.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"
EXISTING_MODEL = "badinput-existing-model"
EXISTING_CONFIG = "badinput-existing-config"
IMAGE = "example.com/echo:1"

MODEL_NAME_RE = r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"
NAME_RE = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
ROLE_RE = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"
TAG_RE = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"


def one(value: str, path: str, constraint: str) -> str:
    """The exact text of a single member-constraint violation."""
    return f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"


def two(value: str, path: str, first: str, second: str) -> str:
    """Two violations of one member, in the service's order."""
    head = f"Value '{value}' at '{path}' failed to satisfy constraint: "
    return f"2 validation errors detected: {head}{first}; {head}{second}"


def one_like(path: str, constraint: str) -> re.Pattern[str]:
    """A single violation whose value is a rendered structure (list, map): the value's text is the
    server's business, everything around it is checked exactly."""
    return re.compile(
        re.escape("1 validation error detected: Value '")
        + r".+"
        + re.escape(f"' at '{path}' failed to satisfy constraint: {constraint}")
    )


def model_arn(name: str) -> str:
    return f"{ARN_PREFIX}:model/{name.lower()}"


def config_arn(name: str) -> str:
    return f"{ARN_PREFIX}:endpoint-config/{name.lower()}"


def c(**kw: Any) -> dict[str, Any]:
    return {"Image": IMAGE, **kw}


def variant(name: str = "AllTraffic", model: str = EXISTING_MODEL, **kw: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InitialInstanceCount": 1, **kw}


def big_env(prefix: str, n: int, size: int) -> dict[str, str]:
    return {f"{prefix}{i}": "v" * size for i in range(n)}


@dataclass
class Case:
    operation: str
    request: dict[str, Any]
    message: str | re.Pattern[str]
    raw: bool = False  # botocore refuses this client-side: send the JSON by hand
    notes: list[str] = field(default_factory=list)


ENV_BYTES = 2 * sum(len(k) + len(v) for k, v in big_env("KEY", 17, 1000).items())  # two containers, 34150 bytes


CASES = [
    # --- CreateModel: names ---------------------------------------------------------------------
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "bad_name!", "PrimaryContainer": c()},
            one("bad_name!", "modelName", f"Member must satisfy regular expression pattern: {MODEL_NAME_RE}"),
        ),
        id="model-name-pattern",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "-leading-hyphen", "PrimaryContainer": c()},
            one("-leading-hyphen", "modelName", f"Member must satisfy regular expression pattern: {MODEL_NAME_RE}"),
        ),
        id="model-name-leading-hyphen",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "m" * 64, "PrimaryContainer": c()},
            one("m" * 64, "modelName", "Member must have length less than or equal to 63"),
        ),
        id="model-name-length-64",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "bad name " + "x" * 60, "PrimaryContainer": c()},
            "2 validation errors detected: "
            f"Value 'bad name {'x' * 60}' at 'modelName' failed to satisfy constraint: "
            "Member must have length less than or equal to 63; "
            f"Value 'bad name {'x' * 60}' at 'modelName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {MODEL_NAME_RE}",
        ),
        id="model-name-two-errors",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": EXISTING_MODEL.upper(), "PrimaryContainer": c()},
            f'Cannot create already existing model "{model_arn(EXISTING_MODEL)}".',
        ),
        id="model-duplicate-other-case",
    ),
    # --- CreateModel: containers ------------------------------------------------------------------
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "both", "PrimaryContainer": c(), "Containers": [c(), c()]},
            "PrimaryContainer and Containers cannot both be specified: use Containers for a pipeline.",
        ),
        id="primary-and-containers",
    ),
    pytest.param(
        Case("CreateModel", {"ModelName": "neither"}, "Either PrimaryContainer or Containers must be specified."),
        id="no-container",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "empty-list", "Containers": []},
            "Either PrimaryContainer or Containers must be specified.",
        ),
        id="empty-containers",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "sixteen", "Containers": [c() for _ in range(16)]},
            one_like("containers", "Member must have length less than or equal to 15"),
        ),
        id="16-containers",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "some-hosts", "Containers": [c(ContainerHostname="prep"), c(), c(ContainerHostname="post")]},
            "ContainerHostname must be set on every container of the pipeline or on none of them"
            " (2 of 3 containers set it).",
        ),
        id="hostname-on-some",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "dup-hosts", "Containers": [c(ContainerHostname="a"), c(ContainerHostname="a")]},
            "ContainerHostname must be unique within a model: a used more than once.",
        ),
        id="duplicate-hostnames",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "bad-host", "Containers": [c(ContainerHostname="bad_host"), c(ContainerHostname="ok")]},
            one(
                "bad_host",
                "containers.1.member.containerHostname",
                f"Member must satisfy regular expression pattern: {NAME_RE}",
            ),
        ),
        id="hostname-pattern",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "long-host", "Containers": [c(ContainerHostname="h" * 64), c(ContainerHostname="ok")]},
            # the pattern's {0,62} caps the length too, so both constraints fail (as on the service)
            two(
                "h" * 64,
                "containers.1.member.containerHostname",
                "Member must have length less than or equal to 63",
                f"Member must satisfy regular expression pattern: {NAME_RE}",
            ),
        ),
        id="hostname-length-64",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "no-image", "PrimaryContainer": {"ModelDataUrl": "s3://b/m.tar.gz"}},
            "Image must be specified for the container at 'primaryContainer'.",
        ),
        id="no-image",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "bad-image", "PrimaryContainer": c(Image="has space:1")},
            one("has space:1", "primaryContainer.image", r"Member must satisfy regular expression pattern: [\S]+"),
        ),
        id="image-pattern",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "bad-mode", "PrimaryContainer": c(Mode="ManyModels")},
            one("ManyModels", "primaryContainer.mode", "Member must satisfy enum value set: [SingleModel, MultiModel]"),
        ),
        id="container-mode-enum",
    ),
    # --- CreateModel: environment -----------------------------------------------------------------
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "env-101", "PrimaryContainer": c(Environment=big_env("K", 101, 1))},
            one_like("primaryContainer.environment", "Member must have length less than or equal to 100"),
        ),
        id="env-101-entries",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "env-key", "PrimaryContainer": c(Environment={"1BAD": "x"})},
            one(
                "{1BAD=x}",
                "primaryContainer.environment",
                "Map keys must satisfy constraint: [Member must satisfy regular expression pattern:"
                " [a-zA-Z_][a-zA-Z0-9_]*]",
            ),
        ),
        id="env-key-pattern",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "env-key-dash", "Containers": [c(Environment={"MY-VAR": "x"}), c()]},
            one(
                "{MY-VAR=x}",
                "containers.1.member.environment",
                "Map keys must satisfy constraint: [Member must satisfy regular expression pattern:"
                " [a-zA-Z_][a-zA-Z0-9_]*]",
            ),
        ),
        id="env-key-pattern-in-pipeline",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "env-value", "PrimaryContainer": c(Environment={"BIG": "v" * 1025})},
            one_like(
                "primaryContainer.environment",
                "Map value must satisfy constraint: [Member must have length less than or equal to 1024]",
            ),
        ),
        id="env-value-1025",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {
                "ModelName": "env-total",
                "Containers": [c(Environment=big_env("KEY", 17, 1000)), c(Environment=big_env("KEY", 17, 1000))],
            },
            f"The combined length of all Environment keys and values is {ENV_BYTES} bytes, more than the 32 KB limit.",
        ),
        id="env-total-over-32k-across-containers",
    ),
    # --- CreateModel: modes, role, model data, tags ---------------------------------------------------
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "mme", "Containers": [c(Mode="MultiModel"), c(Mode="MultiModel")]},
            "More than one container in MultiModel mode is not supported with inference pipeline.",
        ),
        id="multimodel-in-pipeline",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "iec-mode", "Containers": [c(), c()], "InferenceExecutionConfig": {"Mode": "Parallel"}},
            one("Parallel", "inferenceExecutionConfig.mode", "Member must satisfy enum value set: [Serial, Direct]"),
        ),
        id="inference-execution-mode-enum",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "iec-empty", "Containers": [c(), c()], "InferenceExecutionConfig": {}},
            "1 validation error detected: Value null at 'inferenceExecutionConfig.mode' failed to satisfy"
            " constraint: Member must not be null",
            raw=True,
        ),
        id="inference-execution-config-empty",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "direct", "Containers": [c(), c()], "InferenceExecutionConfig": {"Mode": "Direct"}},
            "InferenceExecutionConfig Mode Direct requires ContainerHostname on every container.",
        ),
        id="direct-without-hostnames",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "direct-primary", "PrimaryContainer": c(), "InferenceExecutionConfig": {"Mode": "Direct"}},
            "InferenceExecutionConfig Mode Direct requires Containers, not PrimaryContainer.",
        ),
        id="direct-with-primary-container",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "role", "PrimaryContainer": c(), "ExecutionRoleArn": "arn:aws:iam::123:role/too-short-acct"},
            one(
                "arn:aws:iam::123:role/too-short-acct",
                "executionRoleArn",
                f"Member must satisfy regular expression pattern: {ROLE_RE}",
            ),
        ),
        id="execution-role-pattern",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "relative-data", "PrimaryContainer": c(ModelDataUrl="artifacts/model.tar.gz")},
            one(
                "artifacts/model.tar.gz",
                "primaryContainer.modelDataUrl",
                "Member must be an s3://, https:// or file:// URL, or an absolute local path"
                " (a .tar.gz or a directory)",
            ),
        ),
        id="relative-model-data-url",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "file-host", "PrimaryContainer": c(ModelDataUrl="file://artifacts/model.tar.gz")},
            one(
                "file://artifacts/model.tar.gz",
                "primaryContainer.modelDataUrl",
                "Member must be an s3://, https:// or file:// URL, or an absolute local path"
                " (a .tar.gz or a directory)",
            ),
        ),
        id="relative-file-url",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "vpc", "PrimaryContainer": c(), "VpcConfig": {"SecurityGroupIds": [], "Subnets": ["s-1"]}},
            one("[]", "vpcConfig.securityGroupIds", "Member must have length greater than or equal to 1"),
            raw=True,
        ),
        id="vpc-empty-security-groups",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {
                "ModelName": "tags51",
                "PrimaryContainer": c(),
                "Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)],
            },
            one_like("tags", "Member must have length less than or equal to 50"),
        ),
        id="tags-51",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "tag-key", "PrimaryContainer": c(), "Tags": [{"Key": "bad!key", "Value": "v"}]},
            one("bad!key", "tags.1.member.key", f"Member must satisfy regular expression pattern: {TAG_RE}"),
        ),
        id="tag-key-pattern",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "tag-tab", "PrimaryContainer": c(), "Tags": [{"Key": "k", "Value": "a\tb"}]},
            one("a\tb", "tags.1.member.value", f"Member must satisfy regular expression pattern: {TAG_RE}"),
        ),
        id="tag-value-control-character",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "tag-empty-key", "PrimaryContainer": c(), "Tags": [{"Key": "", "Value": "v"}]},
            one("", "tags.1.member.key", "Member must have length greater than or equal to 1"),
            raw=True,
        ),
        id="tag-key-empty",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "tag-long", "PrimaryContainer": c(), "Tags": [{"Key": "k" * 129, "Value": "v"}]},
            one("k" * 129, "tags.1.member.key", "Member must have length less than or equal to 128"),
        ),
        id="tag-key-length-129",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "tag-no-value", "PrimaryContainer": c(), "Tags": [{"Key": "k"}]},
            "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy constraint:"
            " Member must not be null",
            raw=True,
        ),
        id="tag-value-missing",
    ),
    # --- null members: refused where they are, never stored -----------------------------------------
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "null-container", "Containers": [c(), None]},
            "1 validation error detected: Value null at 'containers.2.member' failed to satisfy constraint:"
            " Member must not be null",
            raw=True,
        ),
        id="null-container",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "null-tag", "PrimaryContainer": c(), "Tags": [None]},
            "1 validation error detected: Value null at 'tags.1.member' failed to satisfy constraint:"
            " Member must not be null",
            raw=True,
        ),
        id="null-tag",
    ),
    pytest.param(
        Case(
            "CreateModel",
            {"ModelName": "null-env", "PrimaryContainer": c(Environment={"A": "1", "B": None})},
            one(
                "{A=1, B=null}",
                "primaryContainer.environment",
                "Map value must satisfy constraint: [Member must not be null]",
            ),
            raw=True,
        ),
        id="null-environment-value",
    ),
    # --- CreateEndpointConfig ---------------------------------------------------------------------------
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "zero", "ProductionVariants": []},
            one("[]", "productionVariants", "Member must have length greater than or equal to 1"),
            raw=True,
        ),
        id="config-0-variants",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "no-variants"},
            "1 validation error detected: Value null at 'productionVariants' failed to satisfy constraint:"
            " Member must not be null",
            raw=True,
        ),
        id="config-variants-missing",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "null-variant", "ProductionVariants": [None]},
            "1 validation error detected: Value null at 'productionVariants.1.member' failed to satisfy constraint:"
            " Member must not be null",
            raw=True,
        ),
        id="config-null-variant",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "int32", "ProductionVariants": [variant(InitialInstanceCount=2**31)]},
            one(
                "2147483648",
                "productionVariants.1.member.initialInstanceCount",
                "Member must have value less than or equal to 2147483647",
            ),
        ),
        id="config-instance-count-beyond-32-bits",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "eleven", "ProductionVariants": [variant(f"v{i}") for i in range(11)]},
            one_like("productionVariants", "Member must have length less than or equal to 10"),
        ),
        id="config-11-variants",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "dup-variants", "ProductionVariants": [variant("A"), variant("A")]},
            "VariantName must be unique within an endpoint configuration: A repeated.",
        ),
        id="config-duplicate-variant-names",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "missing-model", "ProductionVariants": [variant(model="No-Such-Model")]},
            f'Could not find model "{model_arn("No-Such-Model")}".',
        ),
        id="config-missing-model",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "missing-2nd", "ProductionVariants": [variant("a"), variant("b", "ghost-model")]},
            f'Could not find model "{model_arn("ghost-model")}".',
        ),
        id="config-second-variant-missing-model",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "bad.config", "ProductionVariants": [variant()]},
            one("bad.config", "endpointConfigName", f"Member must satisfy regular expression pattern: {NAME_RE}"),
        ),
        id="config-name-pattern",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "c" * 64, "ProductionVariants": [variant()]},
            two(
                "c" * 64,
                "endpointConfigName",
                "Member must have length less than or equal to 63",
                f"Member must satisfy regular expression pattern: {NAME_RE}",
            ),
        ),
        id="config-name-length-64",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "bad-variant", "ProductionVariants": [variant("All_Traffic")]},
            one(
                "All_Traffic",
                "productionVariants.1.member.variantName",
                f"Member must satisfy regular expression pattern: {NAME_RE}",
            ),
        ),
        id="config-variant-name-pattern",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "count0", "ProductionVariants": [variant(InitialInstanceCount=0)]},
            one(
                "0",
                "productionVariants.1.member.initialInstanceCount",
                "Member must have value greater than or equal to 1",
            ),
            raw=True,
        ),
        id="config-instance-count-0",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {
                "EndpointConfigName": "no-count",
                "ProductionVariants": [{"VariantName": "a", "ModelName": EXISTING_MODEL}],
            },
            "InitialInstanceCount must be specified for production variant at 'productionVariants.1.member'.",
        ),
        id="config-instance-count-missing",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "neg-weight", "ProductionVariants": [variant(InitialVariantWeight=-1.0)]},
            one(
                "-1.0",
                "productionVariants.1.member.initialVariantWeight",
                "Member must have value greater than or equal to 0",
            ),
            raw=True,
        ),
        id="config-negative-weight",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "volume", "ProductionVariants": [variant(VolumeSizeInGB=513)]},
            one(
                "513", "productionVariants.1.member.volumeSizeInGB", "Member must have value less than or equal to 512"
            ),
        ),
        id="config-volume-513",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {
                "EndpointConfigName": "startup",
                "ProductionVariants": [variant(ContainerStartupHealthCheckTimeoutInSeconds=59)],
            },
            one(
                "59",
                "productionVariants.1.member.containerStartupHealthCheckTimeoutInSeconds",
                "Member must have value greater than or equal to 60",
            ),
            raw=True,
        ),
        id="config-startup-timeout-59",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "download", "ProductionVariants": [variant(ModelDataDownloadTimeoutInSeconds=3601)]},
            one(
                "3601",
                "productionVariants.1.member.modelDataDownloadTimeoutInSeconds",
                "Member must have value less than or equal to 3600",
            ),
        ),
        id="config-download-timeout-3601",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "kms", "ProductionVariants": [variant()], "KmsKeyId": "key with spaces"},
            one("key with spaces", "kmsKeyId", "Member must satisfy regular expression pattern: [a-zA-Z0-9:/_-]*"),
        ),
        id="config-kms-pattern",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {
                "EndpointConfigName": "capture",
                "ProductionVariants": [variant()],
                "DataCaptureConfig": {
                    "InitialSamplingPercentage": 101,
                    "DestinationS3Uri": "s3://b/c",
                    "CaptureOptions": [{"CaptureMode": "Input"}],
                },
            },
            one(
                "101", "dataCaptureConfig.initialSamplingPercentage", "Member must have value less than or equal to 100"
            ),
        ),
        id="config-capture-sampling-101",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": "capture-empty", "ProductionVariants": [variant()], "DataCaptureConfig": {}},
            "3 validation errors detected: "
            "Value null at 'dataCaptureConfig.initialSamplingPercentage' failed to satisfy constraint:"
            " Member must not be null; "
            "Value null at 'dataCaptureConfig.destinationS3Uri' failed to satisfy constraint:"
            " Member must not be null; "
            "Value null at 'dataCaptureConfig.captureOptions' failed to satisfy constraint:"
            " Member must not be null",
            raw=True,
        ),
        id="config-capture-empty",
    ),
    pytest.param(
        Case(
            "CreateEndpointConfig",
            {"EndpointConfigName": EXISTING_CONFIG.upper(), "ProductionVariants": [variant()]},
            f'Cannot create already existing endpoint configuration "{config_arn(EXISTING_CONFIG)}".',
        ),
        id="config-duplicate",
    ),
    # --- Describe / Delete of what is not there ------------------------------------------------------
    pytest.param(
        Case("DescribeModel", {"ModelName": "Not-There"}, f'Could not find model "{model_arn("Not-There")}".'),
        id="describe-missing-model",
    ),
    pytest.param(
        Case("DeleteModel", {"ModelName": "Not-There"}, f'Could not find model "{model_arn("Not-There")}".'),
        id="delete-missing-model",
    ),
    pytest.param(
        Case(
            "DescribeModel",
            {"ModelName": "bad_name"},
            one("bad_name", "modelName", f"Member must satisfy regular expression pattern: {MODEL_NAME_RE}"),
        ),
        id="describe-model-bad-name",
    ),
    pytest.param(
        Case(
            "DescribeEndpointConfig",
            {"EndpointConfigName": "Not-There"},
            f'Could not find endpoint configuration "{config_arn("Not-There")}".',
        ),
        id="describe-missing-config",
    ),
    pytest.param(
        Case(
            "DeleteEndpointConfig",
            {"EndpointConfigName": "Not-There"},
            f'Could not find endpoint configuration "{config_arn("Not-There")}".',
        ),
        id="delete-missing-config",
    ),
    # --- List and tags ------------------------------------------------------------------------------
    pytest.param(
        Case(
            "ListModels",
            {"MaxResults": 101},
            one("101", "maxResults", "Member must have value less than or equal to 100"),
        ),
        id="list-max-results-101",
    ),
    pytest.param(
        Case(
            "ListModels",
            {"SortBy": "Size"},
            one("Size", "sortBy", "Member must satisfy enum value set: [Name, CreationTime]"),
        ),
        id="list-sort-by-enum",
    ),
    pytest.param(
        Case(
            "ListEndpointConfigs",
            {"SortOrder": "Up"},
            one("Up", "sortOrder", "Member must satisfy enum value set: [Ascending, Descending]"),
        ),
        id="list-sort-order-enum",
    ),
    pytest.param(
        Case(
            "ListEndpointConfigs",
            {"NameContains": "a_b"},
            one("a_b", "nameContains", r"Member must satisfy regular expression pattern: [a-zA-Z0-9\-]+"),
        ),
        id="list-name-contains-pattern",
    ),
    pytest.param(
        Case(
            "AddTags",
            {"ResourceArn": model_arn(EXISTING_MODEL), "Tags": [{"Key": "bad!key", "Value": "v"}]},
            one("bad!key", "tags.1.member.key", f"Member must satisfy regular expression pattern: {TAG_RE}"),
        ),
        id="add-tags-bad-key",
    ),
    pytest.param(
        Case(
            "AddTags",
            {"ResourceArn": model_arn("ghost"), "Tags": [{"Key": "k", "Value": "v"}]},
            f'Could not find resource "{model_arn("ghost")}".',
        ),
        id="add-tags-missing-resource",
    ),
    pytest.param(
        Case(
            "AddTags",
            {"ResourceArn": "not-an-arn-at-all", "Tags": [{"Key": "k", "Value": "v"}]},
            one(
                "not-an-arn-at-all",
                "resourceArn",
                r"Member must satisfy regular expression pattern: arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:.+",
            ),
        ),
        id="add-tags-not-an-arn",
    ),
    pytest.param(
        Case(
            "AddTags",
            {"ResourceArn": model_arn(EXISTING_MODEL), "Tags": [{"Key": "k"}]},
            "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy constraint:"
            " Member must not be null",
            raw=True,
        ),
        id="add-tags-no-value",
    ),
    pytest.param(
        Case(
            "DeleteTags",
            {"ResourceArn": model_arn(EXISTING_MODEL), "TagKeys": []},
            one("[]", "tagKeys", "Member must have length greater than or equal to 1"),
            raw=True,
        ),
        id="delete-tags-no-keys",
    ),
]


def snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def everything(sm: Any) -> dict[str, Any]:
    """The whole visible store: every model and config, as listed and as described, and their tags."""
    models = [m for page in sm.get_paginator("list_models").paginate() for m in page["Models"]]
    configs = [c for page in sm.get_paginator("list_endpoint_configs").paginate() for c in page["EndpointConfigs"]]
    tags = {}
    for m in models:
        tags[m["ModelArn"]] = sm.list_tags(ResourceArn=m["ModelArn"])["Tags"]
    for cfg in configs:
        tags[cfg["EndpointConfigArn"]] = sm.list_tags(ResourceArn=cfg["EndpointConfigArn"])["Tags"]
    existing = sm.describe_model(ModelName=EXISTING_MODEL)
    existing_cfg = sm.describe_endpoint_config(EndpointConfigName=EXISTING_CONFIG)
    for d in (existing, existing_cfg):
        d.pop("ResponseMetadata")
    return {"models": models, "configs": configs, "tags": tags, "existing": [existing, existing_cfg]}


@pytest.fixture(scope="module", autouse=True)
def existing(sm: Any) -> None:
    for name in (EXISTING_MODEL,):
        try:
            sm.describe_model(ModelName=name)
        except ClientError:
            sm.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE}, Tags=[{"Key": "keep", "Value": "me"}])
    try:
        sm.describe_endpoint_config(EndpointConfigName=EXISTING_CONFIG)
    except ClientError:
        sm.create_endpoint_config(EndpointConfigName=EXISTING_CONFIG, ProductionVariants=[variant()])


def send(sm: Any, daemon: Any, case: Case) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a call that must fail."""
    if case.raw:
        resp = httpx.post(
            daemon.url + "/",
            content=json.dumps(case.request),
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"SageMaker.{case.operation}"},
            timeout=30,
            auth=daemon.auth,
        )
        body = resp.json() if resp.content else {}
        return body.get("__type", f"<none: {resp.text[:200]}>"), body.get("message", ""), resp.status_code
    try:
        getattr(sm, snake(case.operation))(**case.request)
    except ClientError as exc:
        err = exc.response["Error"]
        return err["Code"], err["Message"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{case.operation} accepted {case.request}")


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_and_changes_nothing(sm: Any, daemon: Any, case: Case) -> None:
    before = everything(sm)
    code, message, status = send(sm, daemon, case)
    assert code == "ValidationException"
    assert status == 400
    if isinstance(case.message, re.Pattern):
        assert case.message.fullmatch(message), f"{message!r} does not match {case.message.pattern!r}"
    else:
        assert message == case.message
    assert everything(sm) == before


def test_botocore_refuses_these_client_side() -> None:
    """The raw=True rows are raw because botocore would not send them: keep that claim honest."""
    import boto3
    from botocore.exceptions import ParamValidationError

    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",
    )
    raw_cases = [p.values[0] for p in CASES if p.values[0].raw]
    assert raw_cases
    for case in raw_cases:
        with pytest.raises(ParamValidationError):
            getattr(client, snake(case.operation))(**case.request)
