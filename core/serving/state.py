"""An endpoint's engine state, typed: what it serves (config and model snapshots, one entry per
variant) and the UpdateEndpoint in flight, if any.

The store keeps it as JSON in ``Record.state``; each class has the one ``to_json`` / ``from_json``
pair that reads and writes it (snake_case keys). Wire-shaped payloads the user gave (the endpoint
config, model specs, deployment policies) are kept verbatim inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Json = dict[str, Any]


class EndpointStatus(StrEnum):
    """EndpointStatus, in the service model's order (ListEndpoints' StatusEquals checks against it)."""

    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"


# An update call on an endpoint in one of these is refused as "in-progress" rather than as a bad status.
IN_PROGRESS = frozenset(
    {
        EndpointStatus.CREATING,
        EndpointStatus.UPDATING,
        EndpointStatus.SYSTEM_UPDATING,
        EndpointStatus.ROLLING_BACK,
        EndpointStatus.DELETING,
    }
)


class DeploymentPhase(StrEnum):
    CREATING = "Creating"
    ACTIVATING_TRAFFIC = "ActivatingTraffic"
    BAKING = "Baking"
    TERMINATION_WAIT = "TerminationWait"
    TERMINATING = "Terminating"
    ROLLING_BACK = "RollingBack"

    @property
    def variant_status(self) -> str:
        """The VariantStatus the service reports for the new variants in this phase."""
        return _VARIANT_STATUS[self]


_VARIANT_STATUS = {
    DeploymentPhase.CREATING: "Creating",
    DeploymentPhase.ACTIVATING_TRAFFIC: "ActivatingTraffic",
    DeploymentPhase.BAKING: "Baking",
    DeploymentPhase.TERMINATION_WAIT: "Baking",
    DeploymentPhase.TERMINATING: "Deleting",
    DeploymentPhase.ROLLING_BACK: "Deleting",
}


@dataclass
class DeployedImage:
    specified: str
    resolved: str
    resolution_time: float

    def to_json(self) -> Json:
        return {"specified": self.specified, "resolved": self.resolved, "resolution_time": self.resolution_time}

    @classmethod
    def from_json(cls, doc: Json) -> DeployedImage:
        return cls(doc["specified"], doc["resolved"], float(doc["resolution_time"]))

    def to_api(self) -> Json:
        return {
            "SpecifiedImage": self.specified,
            "ResolvedImage": self.resolved,
            "ResolutionTime": self.resolution_time,
        }


@dataclass
class VariantState:
    name: str
    desired_instance_count: int
    desired_weight: float
    current_weight: float
    generation: int | None = None  # None until a fleet of it has started
    deployed_images: list[DeployedImage] = field(default_factory=list)

    def to_json(self) -> Json:
        doc: Json = {
            "name": self.name,
            "desired_instance_count": self.desired_instance_count,
            "desired_weight": self.desired_weight,
            "current_weight": self.current_weight,
        }
        if self.generation is not None:
            doc["generation"] = self.generation
        if self.deployed_images:
            doc["deployed_images"] = [i.to_json() for i in self.deployed_images]
        return doc

    @classmethod
    def from_json(cls, doc: Json) -> VariantState:
        return cls(
            name=doc["name"],
            desired_instance_count=int(doc["desired_instance_count"]),
            desired_weight=float(doc["desired_weight"]),
            current_weight=float(doc["current_weight"]),
            generation=None if doc.get("generation") is None else int(doc["generation"]),
            deployed_images=[DeployedImage.from_json(i) for i in doc.get("deployed_images", [])],
        )


def variant_counts(variants: list[VariantState]) -> dict[str, int]:
    return {v.name: v.desired_instance_count for v in variants}


@dataclass
class Deployment:
    """An UpdateEndpoint in flight. Stored so that a daemon restart can tell how far it got."""

    config: Json
    models: dict[str, Json]
    variants: list[VariantState]
    policy: Json  # the policy in force (the default one when the call gave none)
    requested_policy: Json | None  # what the call gave, kept as LastDeploymentConfig on success
    start_time: float
    phase: DeploymentPhase = DeploymentPhase.CREATING
    phase_message: str = ""
    phase_time: float = 0.0  # when the phase began
    generation: int | None = None  # of the new fleet, once allocated

    def to_json(self) -> Json:
        doc: Json = {
            "config": self.config,
            "models": self.models,
            "variants": [v.to_json() for v in self.variants],
            "policy": self.policy,
            "requested_policy": self.requested_policy,
            "start_time": self.start_time,
            "phase": str(self.phase),
            "phase_message": self.phase_message,
            "phase_time": self.phase_time,
        }
        if self.generation is not None:
            doc["generation"] = self.generation
        return doc

    @classmethod
    def from_json(cls, doc: Json) -> Deployment:
        return cls(
            config=doc["config"],
            models=doc["models"],
            variants=[VariantState.from_json(v) for v in doc["variants"]],
            policy=doc["policy"],
            requested_policy=doc.get("requested_policy"),
            start_time=float(doc["start_time"]),
            phase=DeploymentPhase(doc.get("phase", DeploymentPhase.CREATING)),
            phase_message=doc.get("phase_message", ""),
            phase_time=float(doc.get("phase_time", doc["start_time"])),
            generation=None if doc.get("generation") is None else int(doc["generation"]),
        )

    def pending_summary(self) -> Json:
        """DescribeEndpoint's PendingDeploymentSummary for this deployment."""
        instance_types = {v["VariantName"]: v.get("InstanceType") for v in self.config["ProductionVariants"]}
        status: Json = {"Status": self.phase.variant_status, "StartTime": self.phase_time}
        if self.phase_message:
            status["StatusMessage"] = self.phase_message
        variants = []
        for v in self.variants:
            item: Json = {
                "VariantName": v.name,
                "DesiredWeight": v.desired_weight,
                "DesiredInstanceCount": v.desired_instance_count,
                "VariantStatus": [dict(status)],
            }
            if instance_types.get(v.name):
                item["InstanceType"] = instance_types[v.name]
            variants.append(item)
        return {
            "EndpointConfigName": self.config["EndpointConfigName"],
            "ProductionVariants": variants,
            "StartTime": self.start_time,
        }


@dataclass
class EndpointState:
    config: Json  # the endpoint config snapshot it serves
    models: dict[str, Json]  # model name -> the model spec snapshot
    variants: list[VariantState]
    next_generation: int = 1
    last_deployment_config: Json | None = None
    update: Deployment | None = None

    def to_json(self) -> Json:
        doc: Json = {
            "config": self.config,
            "models": self.models,
            "next_generation": self.next_generation,
            "variants": [v.to_json() for v in self.variants],
        }
        if self.last_deployment_config is not None:
            doc["last_deployment_config"] = self.last_deployment_config
        if self.update is not None:
            doc["update"] = self.update.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: Json) -> EndpointState:
        return cls(
            config=doc["config"],
            models=doc["models"],
            variants=[VariantState.from_json(v) for v in doc.get("variants", [])],
            next_generation=int(doc.get("next_generation", 1)),
            last_deployment_config=doc.get("last_deployment_config"),
            update=Deployment.from_json(doc["update"]) if doc.get("update") else None,
        )

    def variant(self, name: str) -> VariantState | None:
        return next((v for v in self.variants if v.name == name), None)
