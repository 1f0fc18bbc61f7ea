"""The member checks compiled from botocore's SageMaker model: what they accept and refuse, that every
supported operation's input is covered, and what one CreateModel check costs."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from inferpipe.core.api import shapes
from inferpipe.core.api.endpoint_config import validate_create_endpoint_config
from inferpipe.core.api.model import validate_create_model
from inferpipe.core.api.operations import operation_table
from inferpipe.core.api.service import SageMakerService
from inferpipe.core.api.supported import SUPPORTED_OPERATIONS
from inferpipe.core.api.validation import Checker
from inferpipe.core.errors import ValidationException


def config(**variant: Any) -> dict[str, Any]:
    return {
        "EndpointConfigName": "c",
        "ProductionVariants": [{"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, **variant}],
    }


def refused(req: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as err:
        validate_create_endpoint_config(req)
    return err.value.message


def test_instance_type_is_the_models_enum() -> None:
    assert refused(config(InstanceType="ml.foo.bar")).startswith(
        "1 validation error detected: Value 'ml.foo.bar' at 'productionVariants.1.member.instanceType' failed to"
        " satisfy constraint: Member must satisfy enum value set: [ml.t2.medium, "
    )
    validate_create_endpoint_config(config(InstanceType="ml.p6-b200.48xlarge"))


@pytest.mark.parametrize(
    ("member", "value", "good"),
    [
        ("AcceleratorType", "ml.eia9.huge", "ml.eia2.medium"),
        ("InferenceAmiVersion", "al2-latest", "al2-ami-sagemaker-inference-gpu-2"),
    ],
)
def test_members_the_hand_copy_skipped_are_checked(member: str, value: str, good: str) -> None:
    path = f"productionVariants.1.member.{member[0].lower()}{member[1:]}"
    assert f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [" in (
        refused(config(**{member: value}))
    )
    validate_create_endpoint_config(config(**{member: good}))


def test_integers_are_32_bit_and_booleans_are_not_numbers() -> None:
    c = Checker()
    shapes.check_request("ListModels", {"MaxResults": True}, c)
    shapes.check_request("ListTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:000000000000:model/m"}, c)
    shapes.check_request("CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c", "Tags": {}}, c)
    assert c.errors == [
        "Value 'true' at 'maxResults' failed to satisfy constraint: Member must be an integer",
        "Value '{}' at 'tags' failed to satisfy constraint: Member must be a list",
    ]
    c = Checker()
    shapes.check_request("ListModels", {"MaxResults": 2**31}, c)
    assert c.errors[0].endswith("Member must have value less than or equal to 100")


def _reachable(shape: Any, seen: set[str]) -> None:
    if shape.name in seen:
        return
    seen.add(shape.name)
    if shape.type_name == "structure" and not shape.metadata.get("document"):
        for member in shape.members.values():
            _reachable(member, seen)
    elif shape.type_name == "list":
        _reachable(shape.member, seen)
    elif shape.type_name == "map":
        for sub in (shape.key, shape.value):
            _reachable(sub, seen)


def test_every_supported_operation_is_covered() -> None:
    service = SimpleNamespace(**{n: None for n in dir(SageMakerService) if not n.startswith("_")})
    service.packages = service.package_groups = SimpleNamespace(
        create=None, describe=None, list=None, update=None, delete=None
    )
    transforms = SimpleNamespace(create=None, describe=None, list=None, stop=None)
    table = operation_table(service, transforms)  # type: ignore[arg-type]
    served = {t.removeprefix("SageMaker.") for t in table if t.startswith("SageMaker.")}
    assert served == set(SUPPORTED_OPERATIONS)
    model = shapes.service_model()
    for operation in SUPPORTED_OPERATIONS:
        shapes.check_request(operation, {}, Checker())
        seen: set[str] = set()
        _reachable(model.operation_model(operation).input_shape, seen)
        # every shape reachable from the input (map keys and values are checked inline)
        compiled = shapes.compiled_shapes()
        inline = {s for s in seen if s not in compiled}
        for name in inline:
            assert model.shape_for(name).type_name in ("string", "integer", "long", "float", "double", "boolean"), name


def test_one_create_model_check_is_cheap_and_loads_the_model_once() -> None:
    req = {
        "ModelName": "m",
        "Containers": [
            {"Image": f"img{i}:1", "ModelDataUrl": "/data/model", "Environment": {f"K{j}": "v" for j in range(20)}}
            for i in range(3)
        ],
        "Tags": [{"Key": "k", "Value": "v"}],
    }
    validate_create_model(req)  # compiles CreateModel's checks
    loads = shapes.service_model.cache_info().misses
    n = 500
    start = time.perf_counter()
    for _ in range(n):
        validate_create_model(req)
    per_call = (time.perf_counter() - start) / n
    assert shapes.service_model.cache_info().misses == loads
    # 15-200 us here, by request size; the bound only catches a model load (~0.5 s) or a recompile per call
    assert per_call < 0.005, per_call
