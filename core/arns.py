"""ARNs as SageMaker builds them: the resource name lowercased, a fixed fake account."""

from __future__ import annotations

from inferpipe.core.config import Settings

KIND_TO_RESOURCE = {
    "model": "model",
    "endpoint-config": "endpoint-config",
    "endpoint": "endpoint",
    "transform-job": "transform-job",
    "model-package-group": "model-package-group",
    # a versioned package's name is "<group>/<version>"
    "model-package": "model-package",
}


def arn(settings: Settings, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{settings.region}:{settings.account}:{KIND_TO_RESOURCE[kind]}/{name.lower()}"


def parse(value: str) -> tuple[str, str] | None:
    """(kind, lowercased name) of a SageMaker ARN, or None if it is not one we host."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sagemaker" or "/" not in parts[5]:
        return None
    kind, _, name = parts[5].partition("/")
    if kind not in KIND_TO_RESOURCE:
        return None
    return kind, name
