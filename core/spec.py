"""Typed views of what users asked for, as the engine consumes them (no wire shapes past here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_STARTUP_HEALTH_TIMEOUT = 240  # the 4 minutes the Developer Guide documents


@dataclass(frozen=True)
class S3ModelData:
    """ModelDataSource.S3DataSource (and an s3:// ModelDataUrl, which AWS treats as S3Object + Gzip)."""

    uri: str
    data_type: str = "S3Object"  # S3Object: one object | S3Prefix: every key under the prefix
    compression: str = "Gzip"  # Gzip: a .tar.gz to extract | None: copied as it is

    @classmethod
    def from_api(cls, container: dict[str, Any]) -> S3ModelData | None:
        source = (container.get("ModelDataSource") or {}).get("S3DataSource")
        if not source:
            return None
        return cls(source["S3Uri"], source.get("S3DataType", "S3Object"), source.get("CompressionType", "None"))


@dataclass(frozen=True)
class ContainerSpec:
    hostname: str
    image: str
    model_data_url: str | None
    environment: dict[str, str] = field(default_factory=dict)
    model_data_source: S3ModelData | None = None

    @property
    def has_model_data(self) -> bool:
        return bool(self.model_data_url or self.model_data_source)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    containers: tuple[ContainerSpec, ...]
    mode: str = "Serial"  # Serial | Direct
    is_pipeline: bool = True

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> ModelSpec:
        if body.get("Containers"):
            raw = body["Containers"]
            named = any(c.get("ContainerHostname") for c in raw)
            containers = tuple(
                ContainerSpec(
                    hostname=c["ContainerHostname"] if named else f"container-{i}",
                    image=c.get("Image", ""),
                    model_data_url=c.get("ModelDataUrl"),
                    environment=dict(c.get("Environment") or {}),
                    model_data_source=S3ModelData.from_api(c),
                )
                for i, c in enumerate(raw, 1)
            )
            pipeline = True
        else:
            c = body.get("PrimaryContainer") or {}
            containers = (
                ContainerSpec(
                    "primary",
                    c.get("Image", ""),
                    c.get("ModelDataUrl"),
                    dict(c.get("Environment") or {}),
                    S3ModelData.from_api(c),
                ),
            )
            pipeline = False
        mode = (body.get("InferenceExecutionConfig") or {}).get("Mode", "Serial")
        return cls(name=body["ModelName"], containers=containers, mode=mode, is_pipeline=pipeline)


@dataclass(frozen=True)
class VariantSpec:
    name: str
    model: ModelSpec
    instance_count: int
    weight: float
    instance_type: str | None
    startup_timeout: int = DEFAULT_STARTUP_HEALTH_TIMEOUT
