"""The EndpointConfig resource: CreateEndpointConfig's validation and DescribeEndpointConfig's shape."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.data_capture import check_data_capture
from inferpipe.core.api.model import NETWORK_ISOLATION_UNSUPPORTED
from inferpipe.core.api.shapes import check_request
from inferpipe.core.api.validation import Checker
from inferpipe.core.containers.hostpaths import HostPathPolicy
from inferpipe.core.store import Record


def validate_create_endpoint_config(req: dict[str, Any], host_paths: HostPathPolicy | None = None) -> None:
    c = Checker()
    check_request("CreateEndpointConfig", req, c)
    if req.get("DataCaptureConfig") is not None and not c.errors:
        check_data_capture(req["DataCaptureConfig"], c, host_paths)
    if req.get("EnableNetworkIsolation") is True:
        c.rule(NETWORK_ISOLATION_UNSUPPORTED)
    variants = req.get("ProductionVariants")
    if isinstance(variants, list):
        names: list[str] = []
        for i, v in enumerate(variants, 1):
            path = f"productionVariants.{i}.member"
            if not isinstance(v, dict):
                continue
            if v.get("VariantName") is not None:
                names.append(str(v["VariantName"]))
            # Optional in the model (a variant may name a model package elsewhere); required here.
            if v.get("ModelName") is None:
                c.rule(f"ModelName must be specified for production variant at '{path}'.")
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


def describe(rec: Record) -> dict[str, Any]:
    body = {k: v for k, v in rec.spec.items() if k != "Tags"}
    body["EndpointConfigArn"] = rec.arn
    body["CreationTime"] = rec.created
    return body


def summary(rec: Record) -> dict[str, Any]:
    return {"EndpointConfigName": rec.name, "EndpointConfigArn": rec.arn, "CreationTime": rec.created}
