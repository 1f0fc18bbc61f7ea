"""CreateEndpoint, UpdateEndpoint and UpdateEndpointWeightsAndCapacities requests decoded into the
typed specs serving takes. Their member constraints are checked before, by the operation table
(``api.shapes``); the service's own deployment-policy rules are checked here."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.deployment_policy import validate_deployment_config
from inferpipe.core.serving.specs import (
    CreateEndpointSpec,
    UpdateEndpointSpec,
    VariantChange,
    WeightsAndCapacitiesSpec,
)


def decode_create_endpoint(req: dict[str, Any]) -> CreateEndpointSpec:
    if req.get("DeploymentConfig"):
        validate_deployment_config(req["DeploymentConfig"])
    return CreateEndpointSpec(
        name=req["EndpointName"],
        config_name=req["EndpointConfigName"],
        deployment_config=req.get("DeploymentConfig"),
        tags=list(req.get("Tags") or []),
    )


def decode_update_endpoint(req: dict[str, Any]) -> UpdateEndpointSpec:
    if req.get("DeploymentConfig"):
        validate_deployment_config(req["DeploymentConfig"])
    excluded = req.get("ExcludeRetainedVariantProperties")
    return UpdateEndpointSpec(
        name=req["EndpointName"],
        config_name=req["EndpointConfigName"],
        retain_all_variant_properties=bool(req.get("RetainAllVariantProperties")),
        excluded_variant_properties=frozenset(e["VariantPropertyType"] for e in excluded or [] if isinstance(e, dict)),
        retain_deployment_config=bool(req.get("RetainDeploymentConfig")),
        deployment_config=req.get("DeploymentConfig"),
    )


def decode_weights_and_capacities(req: dict[str, Any]) -> WeightsAndCapacitiesSpec:
    return WeightsAndCapacitiesSpec(
        name=req["EndpointName"],
        changes=tuple(
            VariantChange(
                variant_name=ch["VariantName"],
                weight=None if ch.get("DesiredWeight") is None else float(ch["DesiredWeight"]),
                instance_count=None if ch.get("DesiredInstanceCount") is None else int(ch["DesiredInstanceCount"]),
            )
            for ch in req["DesiredWeightsAndCapacities"]
        ),
    )
