"""CreateEndpoint, UpdateEndpoint and UpdateEndpointWeightsAndCapacities requests: their member
constraints checked, every violation at once, then decoded into the typed specs serving takes."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.deployment_policy import validate_deployment_config
from inferpipe.core.api.validation import Checker, check_name
from inferpipe.core.serving.specs import (
    CreateEndpointSpec,
    UpdateEndpointSpec,
    VariantChange,
    WeightsAndCapacitiesSpec,
)

RETAINABLE_VARIANT_PROPERTIES = ["DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig"]


def decode_create_endpoint(req: dict[str, Any]) -> CreateEndpointSpec:
    c = Checker()
    if c.required(req, "EndpointName", "endpointName"):
        check_name(c, req["EndpointName"], "endpointName")
    if c.required(req, "EndpointConfigName", "endpointConfigName"):
        check_name(c, req["EndpointConfigName"], "endpointConfigName")
    c.tags(req.get("Tags"))
    c.structure(req.get("DeploymentConfig"), "deploymentConfig")
    c.raise_if_any()
    if req.get("DeploymentConfig"):
        validate_deployment_config(req["DeploymentConfig"])
    return CreateEndpointSpec(
        name=req["EndpointName"],
        config_name=req["EndpointConfigName"],
        deployment_config=req.get("DeploymentConfig"),
        tags=list(req.get("Tags") or []),
    )


def decode_update_endpoint(req: dict[str, Any]) -> UpdateEndpointSpec:
    c = Checker()
    if c.required(req, "EndpointName", "endpointName"):
        check_name(c, req["EndpointName"], "endpointName")
    if c.required(req, "EndpointConfigName", "endpointConfigName"):
        check_name(c, req["EndpointConfigName"], "endpointConfigName")
    c.boolean(req.get("RetainAllVariantProperties"), "retainAllVariantProperties")
    c.boolean(req.get("RetainDeploymentConfig"), "retainDeploymentConfig")
    excluded = req.get("ExcludeRetainedVariantProperties")
    if c.sequence(excluded, "excludeRetainedVariantProperties", max_len=3) and excluded:
        for i, e in enumerate(excluded, 1):
            p = f"excludeRetainedVariantProperties.{i}.member"
            if c.structure(e, p) and e is not None and c.required(e, "VariantPropertyType", f"{p}.variantPropertyType"):
                c.string(e["VariantPropertyType"], f"{p}.variantPropertyType", enum=RETAINABLE_VARIANT_PROPERTIES)
    if c.structure(req.get("DeploymentConfig"), "deploymentConfig") and req.get("DeploymentConfig"):
        validate_deployment_config(req["DeploymentConfig"], c)
    c.raise_if_any()
    return UpdateEndpointSpec(
        name=req["EndpointName"],
        config_name=req["EndpointConfigName"],
        retain_all_variant_properties=bool(req.get("RetainAllVariantProperties")),
        excluded_variant_properties=frozenset(e["VariantPropertyType"] for e in excluded or [] if isinstance(e, dict)),
        retain_deployment_config=bool(req.get("RetainDeploymentConfig")),
        deployment_config=req.get("DeploymentConfig"),
    )


def decode_weights_and_capacities(req: dict[str, Any]) -> WeightsAndCapacitiesSpec:
    c = Checker()
    if c.required(req, "EndpointName", "endpointName"):
        check_name(c, req["EndpointName"], "endpointName")
    changes = req.get("DesiredWeightsAndCapacities")
    if c.required(req, "DesiredWeightsAndCapacities", "desiredWeightsAndCapacities") and c.sequence(
        changes, "desiredWeightsAndCapacities", min_len=1
    ):
        for i, ch in enumerate(changes, 1):
            p = f"desiredWeightsAndCapacities.{i}.member"
            if not c.structure(ch, p) or ch is None:
                continue
            if c.required(ch, "VariantName", f"{p}.variantName"):
                check_name(c, ch["VariantName"], f"{p}.variantName")
            c.number(ch.get("DesiredWeight"), f"{p}.desiredWeight", minimum=0)
            c.integer(ch.get("DesiredInstanceCount"), f"{p}.desiredInstanceCount", minimum=0)
    c.raise_if_any()
    return WeightsAndCapacitiesSpec(
        name=req["EndpointName"],
        changes=tuple(
            VariantChange(
                variant_name=ch["VariantName"],
                weight=None if ch.get("DesiredWeight") is None else float(ch["DesiredWeight"]),
                instance_count=None if ch.get("DesiredInstanceCount") is None else int(ch["DesiredInstanceCount"]),
            )
            for ch in changes
        ),
    )
