"""The EndpointConfig resource: CreateEndpointConfig's validation and DescribeEndpointConfig's shape."""

from __future__ import annotations

from typing import Any

from .model import check_model_name
from .store import Record
from .validation import KMS_PATTERN, NAME_PATTERN, ROLE_ARN_PATTERN, Checker, check_name

MAX_VARIANTS = 10


def validate_create_endpoint_config(req: dict[str, Any]) -> None:
    c = Checker()
    if c.required(req, "EndpointConfigName", "endpointConfigName"):
        check_name(c, req["EndpointConfigName"], "endpointConfigName")
    variants = req.get("ProductionVariants")
    if c.required(req, "ProductionVariants", "productionVariants"):
        c.sequence(variants, "productionVariants", min_len=1, max_len=MAX_VARIANTS)
    c.string(req.get("KmsKeyId"), "kmsKeyId", max_len=2048, pattern=KMS_PATTERN)
    c.string(req.get("ExecutionRoleArn"), "executionRoleArn", min_len=20, max_len=2048, pattern=ROLE_ARN_PATTERN)
    c.tags(req.get("Tags"))
    for key in ("DataCaptureConfig", "AsyncInferenceConfig", "ExplainerConfig", "VpcConfig", "MetricsConfig"):
        c.structure(req.get(key), key[:1].lower() + key[1:])
    c.sequence(req.get("ShadowProductionVariants"), "shadowProductionVariants", min_len=1, max_len=MAX_VARIANTS)
    if isinstance(variants, list):
        names: list[str] = []
        for i, v in enumerate(variants, 1):
            path = f"productionVariants.{i}.member"
            if not c.structure(v, path) or v is None:
                continue
            if c.required(v, "VariantName", f"{path}.variantName"):
                check_name(c, v["VariantName"], f"{path}.variantName", NAME_PATTERN)
                names.append(str(v["VariantName"]))
            if v.get("ModelName") is None:
                c.problem(f"ModelName must be specified for production variant at '{path}'.")
            check_model_name(c, v.get("ModelName"), f"{path}.modelName")
            c.integer(v.get("InitialInstanceCount"), f"{path}.initialInstanceCount", minimum=1)
            c.number(v.get("InitialVariantWeight"), f"{path}.initialVariantWeight", minimum=0)
            c.string(v.get("InstanceType"), f"{path}.instanceType", pattern=r"ml\.[a-z0-9]+\.[a-z0-9]+")
            c.integer(v.get("VolumeSizeInGB"), f"{path}.volumeSizeInGB", minimum=1, maximum=512)
            c.integer(
                v.get("ModelDataDownloadTimeoutInSeconds"),
                f"{path}.modelDataDownloadTimeoutInSeconds",
                minimum=60,
                maximum=3600,
            )
            c.integer(
                v.get("ContainerStartupHealthCheckTimeoutInSeconds"),
                f"{path}.containerStartupHealthCheckTimeoutInSeconds",
                minimum=60,
                maximum=3600,
            )
            if v.get("ServerlessConfig") is not None:
                c.problem(
                    f"ServerlessConfig at '{path}' is not supported by inferpipe: give InitialInstanceCount instead."
                )
            elif v.get("InitialInstanceCount") is None:
                c.problem(f"InitialInstanceCount must be specified for production variant at '{path}'.")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            c.problem(f"VariantName must be unique within an endpoint configuration: {', '.join(duplicates)} repeated.")
    c.raise_if_any()


def describe(rec: Record) -> dict[str, Any]:
    body = {k: v for k, v in rec.spec.items() if k != "Tags"}
    body["EndpointConfigArn"] = rec.arn
    body["CreationTime"] = rec.created
    return body


def summary(rec: Record) -> dict[str, Any]:
    return {"EndpointConfigName": rec.name, "EndpointConfigArn": rec.arn, "CreationTime": rec.created}
