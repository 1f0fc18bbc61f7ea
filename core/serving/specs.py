"""Typed control-plane requests the serving managers take: decoded and validated at the wire edge
(core/api/), so nothing below api/ reads a request dictionary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CreateEndpointSpec:
    name: str
    config_name: str
    # The deployment policy stays in the API's shape: it is stored and replayed by UpdateEndpoint's
    # RetainDeploymentConfig, and the traffic-shifting code reads it as such.
    deployment_config: dict[str, Any] | None = None
    tags: list[dict[str, Any]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """What the endpoint's record keeps of the request (tags are kept apart, per ARN)."""
        out: dict[str, Any] = {"EndpointName": self.name, "EndpointConfigName": self.config_name}
        if self.deployment_config is not None:
            out["DeploymentConfig"] = self.deployment_config
        return out


@dataclass(frozen=True)
class UpdateEndpointSpec:
    name: str
    config_name: str
    retain_all_variant_properties: bool = False
    excluded_variant_properties: frozenset[str] = frozenset()
    retain_deployment_config: bool = False
    deployment_config: dict[str, Any] | None = None


@dataclass(frozen=True)
class VariantChange:
    """One variant's new weight and/or instance count; ``None`` leaves that property as it is."""

    variant_name: str
    weight: float | None = None
    instance_count: int | None = None


@dataclass(frozen=True)
class WeightsAndCapacitiesSpec:
    name: str
    changes: tuple[VariantChange, ...]


@dataclass(frozen=True)
class AlarmSpec:
    name: str
    # The alarm as stored and described: CloudWatch's metric-alarm shape, evaluated from the store.
    definition: dict[str, Any]
