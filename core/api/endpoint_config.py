"""The EndpointConfig resource: CreateEndpointConfig's validation and DescribeEndpointConfig's shape."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.model import NETWORK_ISOLATION_UNSUPPORTED, check_model_name, check_vpc
from inferpipe.core.api.validation import (
    KMS_PATTERN,
    NAME_PATTERN,
    ROLE_ARN_PATTERN,
    S3_URI_PATTERN,
    Checker,
    check_name,
)
from inferpipe.core.store import Record

MAX_VARIANTS = 10
CONTENT_TYPE_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*\/[a-zA-Z0-9](-*[a-zA-Z0-9.])*"


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
    c.boolean(req.get("EnableNetworkIsolation"), "enableNetworkIsolation")
    if req.get("EnableNetworkIsolation") is True:
        c.rule(NETWORK_ISOLATION_UNSUPPORTED)
    for key in ("ExplainerConfig", "MetricsConfig"):
        c.structure(req.get(key), key[:1].lower() + key[1:])
    _check_data_capture(c, req.get("DataCaptureConfig"))
    async_config = req.get("AsyncInferenceConfig")
    if c.structure(async_config, "asyncInferenceConfig") and async_config is not None:
        c.required(async_config, "OutputConfig", "asyncInferenceConfig.outputConfig")
        c.structure(async_config.get("OutputConfig"), "asyncInferenceConfig.outputConfig")
    check_vpc(c, req.get("VpcConfig"))
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
                c.rule(f"ModelName must be specified for production variant at '{path}'.")
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
                c.rule(
                    f"ServerlessConfig at '{path}' is not supported by inferpipe: give InitialInstanceCount instead."
                )
            elif v.get("InitialInstanceCount") is None:
                c.rule(f"InitialInstanceCount must be specified for production variant at '{path}'.")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            c.rule(f"VariantName must be unique within an endpoint configuration: {', '.join(duplicates)} repeated.")
    c.raise_if_any()


def _check_data_capture(c: Checker, dcc: Any) -> None:
    path = "dataCaptureConfig"
    if not c.structure(dcc, path) or dcc is None:
        return
    c.boolean(dcc.get("EnableCapture"), f"{path}.enableCapture")
    if c.required(dcc, "InitialSamplingPercentage", f"{path}.initialSamplingPercentage"):
        c.integer(dcc["InitialSamplingPercentage"], f"{path}.initialSamplingPercentage", minimum=0, maximum=100)
    if c.required(dcc, "DestinationS3Uri", f"{path}.destinationS3Uri"):
        c.string(dcc["DestinationS3Uri"], f"{path}.destinationS3Uri", max_len=512, pattern=S3_URI_PATTERN)
    c.string(dcc.get("KmsKeyId"), f"{path}.kmsKeyId", max_len=2048, pattern=KMS_PATTERN)
    options = dcc.get("CaptureOptions")
    if c.required(dcc, "CaptureOptions", f"{path}.captureOptions") and c.sequence(
        options, f"{path}.captureOptions", min_len=1, max_len=32
    ):
        for i, option in enumerate(options, 1):
            op = f"{path}.captureOptions.{i}.member"
            if (
                c.structure(option, op)
                and option is not None
                and c.required(option, "CaptureMode", f"{op}.captureMode")
            ):
                c.string(option["CaptureMode"], f"{op}.captureMode", enum=["Input", "Output", "InputAndOutput"])
    header = dcc.get("CaptureContentTypeHeader")
    if c.structure(header, f"{path}.captureContentTypeHeader") and header is not None:
        for key in ("CsvContentTypes", "JsonContentTypes"):
            hp = f"{path}.captureContentTypeHeader.{key[:1].lower()}{key[1:]}"
            types = header.get(key)
            if c.sequence(types, hp, min_len=1, max_len=10) and types is not None:
                for i, ctype in enumerate(types, 1):
                    c.string(ctype, f"{hp}.{i}.member", min_len=1, max_len=256, pattern=CONTENT_TYPE_PATTERN)


def describe(rec: Record) -> dict[str, Any]:
    body = {k: v for k, v in rec.spec.items() if k != "Tags"}
    body["EndpointConfigArn"] = rec.arn
    body["CreationTime"] = rec.created
    return body


def summary(rec: Record) -> dict[str, Any]:
    return {"EndpointConfigName": rec.name, "EndpointConfigArn": rec.arn, "CreationTime": rec.created}
