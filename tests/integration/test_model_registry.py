"""The model registry driven by unmodified boto3 and the CLI: groups, versions counting up per
group, approval (and its event log), list filters and paging, deleting, CreateModel from a package
version (Approved only), and validation errors checked against botocore's own copy of the model."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.loaders import Loader
from botocore.model import ServiceModel

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"
PIPELINE = [
    {"ContainerHostname": "prep", "Image": "example.com/prep:1", "Environment": {"STAGE": "prep"}},
    {"ContainerHostname": "model", "Image": "example.com/model:1", "ModelDataUrl": "s3://bucket/model.tar.gz"},
]


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def botocore_model() -> ServiceModel:
    """The oracle: botocore's SageMaker model, loaded here independently of the daemon's copy."""
    return ServiceModel(Loader().load_service_model("sagemaker", "service-2"), service_name="sagemaker")


def register(sm: Any, group: str, **extra: Any) -> str:
    spec = {"Containers": PIPELINE, "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}
    return sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec, **extra)["ModelPackageArn"]


def refused(daemon: Any, operation: str, body: dict[str, Any]) -> tuple[str, str]:
    """The daemon's answer to a request botocore would not send (its client-side checks are off)."""
    resp = daemon.raw_call(f"SageMaker.{operation}", json.dumps(body).encode())
    assert resp.status_code == 400, resp.text
    return resp.json()["__type"], resp.json()["message"]


def test_group_lifecycle(sm: Any) -> None:
    name = uniq("Wine-Group")
    out = sm.create_model_package_group(
        ModelPackageGroupName=name, ModelPackageGroupDescription="wine, v1 and up", Tags=[{"Key": "t", "Value": "1"}]
    )
    group_arn = f"{ARN_PREFIX}:model-package-group/{name.lower()}"
    assert out["ModelPackageGroupArn"] == group_arn
    desc = sm.describe_model_package_group(ModelPackageGroupName=name)
    assert desc["ModelPackageGroupName"] == name
    assert desc["ModelPackageGroupStatus"] == "Completed"
    assert desc["ModelPackageGroupDescription"] == "wine, v1 and up"
    assert sm.describe_model_package_group(ModelPackageGroupName=group_arn)["ModelPackageGroupName"] == name
    assert sm.list_tags(ResourceArn=group_arn)["Tags"] == [{"Key": "t", "Value": "1"}]
    with pytest.raises(ClientError) as exc:
        sm.create_model_package_group(ModelPackageGroupName=name.upper())
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "already exists" in exc.value.response["Error"]["Message"]
    listed = sm.list_model_package_groups(NameContains=name[-8:])["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == [name]
    sm.delete_model_package_group(ModelPackageGroupName=name)
    with pytest.raises(ClientError) as exc:
        sm.describe_model_package_group(ModelPackageGroupName=name)
    assert exc.value.response["Error"]["Message"] == f"ModelPackageGroup {name} does not exist."


def test_versions_count_up_and_list_filters_sort_and_page(sm: Any) -> None:
    group = uniq("versions")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arns = [register(sm, group, ModelPackageDescription=f"v{i}") for i in range(1, 4)]
    assert arns == [f"{ARN_PREFIX}:model-package/{group}/{i}" for i in (1, 2, 3)]
    desc = sm.describe_model_package(ModelPackageName=f"{group}/2")
    assert desc["ModelPackageName"] == group
    assert desc["ModelPackageGroupName"] == group
    assert desc["ModelPackageVersion"] == 2
    assert desc["ModelApprovalStatus"] == "PendingManualApproval"
    assert desc["ModelPackageStatus"] == "Completed"
    assert desc["InferenceSpecification"]["Containers"] == PIPELINE
    assert desc["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv"]
    assert sm.describe_model_package(ModelPackageName=arns[1])["ModelPackageArn"] == arns[1]

    sm.update_model_package(ModelPackageArn=arns[0], ModelApprovalStatus="Approved")
    sm.update_model_package(ModelPackageArn=arns[2], ModelApprovalStatus="Rejected")

    def listed(**filters: Any) -> list[int]:
        found = sm.list_model_packages(ModelPackageGroupName=group, **filters)["ModelPackageSummaryList"]
        return [p["ModelPackageVersion"] for p in found]

    assert listed() == [3, 2, 1]  # newest first, as the service's default
    assert listed(SortOrder="Ascending") == [1, 2, 3]
    assert listed(ModelApprovalStatus="Approved") == [1]
    assert listed(ModelApprovalStatus="PendingManualApproval") == [2]
    assert listed(ModelApprovalStatus="Rejected", SortBy="Name") == [3]
    pages = sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, SortOrder="Ascending", PaginationConfig={"PageSize": 2}
    )
    assert [[p["ModelPackageVersion"] for p in page["ModelPackageSummaryList"]] for page in pages] == [[1, 2], [3]]
    # As SageMaker: without a group only unversioned packages list, unless the type says otherwise.
    everything = sm.list_model_packages(ModelPackageType="Both", MaxResults=100)["ModelPackageSummaryList"]
    assert set(arns) <= {p["ModelPackageArn"] for p in everything}
    assert sm.list_model_packages(NameContains=group)["ModelPackageSummaryList"] == []


def test_approval_changes_go_to_the_event_log(sm: Any, daemon: Any) -> None:
    group = uniq("approvals")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = register(sm, group, CustomerMetadataProperties={"owner": "ml", "stage": "dev"})
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="holdout ok")
    sm.update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"stage": "prod"}, CustomerMetadataPropertiesToRemove=["owner"]
    )
    desc = sm.describe_model_package(ModelPackageName=arn)
    assert desc["ModelApprovalStatus"] == "Approved"
    assert desc["ApprovalDescription"] == "holdout ok"
    assert desc["CustomerMetadataProperties"] == {"stage": "prod"}
    events = daemon.cli_json("events", "--kind", "model-package", "--name", f"{group}/1")
    changes = [e for e in events["Events"] if e["Event"] == "ApprovalChanged"]
    assert [c["Detail"] for c in changes] == [
        {"from": "PendingManualApproval", "to": "Approved", "approvalDescription": "holdout ok"}
    ]


def test_deleting_a_group_with_versions_conflicts_and_versions_are_not_reused(sm: Any) -> None:
    group = uniq("deletes")
    sm.create_model_package_group(ModelPackageGroupName=group)
    first, second = register(sm, group), register(sm, group)
    with pytest.raises(ClientError) as exc:
        sm.delete_model_package_group(ModelPackageGroupName=group)
    assert exc.value.response["Error"]["Code"] == "ConflictException"
    assert "delete-model-package" in exc.value.response["Error"]["Message"]
    sm.delete_model_package(ModelPackageName=second)
    assert register(sm, group).endswith(f"/{group}/3")
    sm.delete_model_package(ModelPackageName=f"{group}/3")
    sm.delete_model_package(ModelPackageName=first)
    sm.delete_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError) as exc:
        sm.describe_model_package(ModelPackageName=first)
    assert exc.value.response["Error"]["Message"] == f"ModelPackage {first} does not exist."


def test_create_model_from_a_version_takes_its_containers_only_when_approved(sm: Any) -> None:
    group = uniq("deployable")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = register(sm, group)
    name = uniq("from-registry")
    with pytest.raises(ClientError) as exc:
        sm.create_model(ModelName=name, PrimaryContainer={"ModelPackageName": arn})
    code, message = exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]
    assert code == "ValidationException"
    assert "ModelApprovalStatus PendingManualApproval" in message
    assert f"inferpipe update-model-package --model-package-arn {arn} --model-approval-status Approved" in message
    with pytest.raises(ClientError):
        sm.describe_model(ModelName=name)  # a refused request created nothing

    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sm.create_model(ModelName=name, PrimaryContainer={"ModelPackageName": arn, "Environment": {"EXTRA": "1"}})
    desc = sm.describe_model(ModelName=name)
    assert "PrimaryContainer" not in desc  # a registered pipeline serves as one
    assert [c["ModelPackageName"] for c in desc["Containers"]] == [arn, arn]
    assert [c["Image"] for c in desc["Containers"]] == [c["Image"] for c in PIPELINE]
    assert desc["Containers"][0]["Environment"] == {"STAGE": "prep", "EXTRA": "1"}

    # Containers[].ModelPackageName by name/version; a rejected version is refused the same way.
    other = uniq("by-name")
    sm.create_model(ModelName=other, Containers=[{"ModelPackageName": f"{group}/1"}])
    assert len(sm.describe_model(ModelName=other)["Containers"]) == 2
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    with pytest.raises(ClientError) as exc:
        sm.create_model(ModelName=uniq("rejected"), Containers=[{"ModelPackageName": f"{group}/1"}])
    assert "ModelApprovalStatus Rejected" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        sm.create_model(ModelName=uniq("missing"), PrimaryContainer={"ModelPackageName": f"{group}/9"})
    assert (
        exc.value.response["Error"]["Message"] == f"ModelPackage {ARN_PREFIX}:model-package/{group}/9 does not exist."
    )


def test_unversioned_and_unsupported_packages_are_refused_clearly(sm: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm.create_model_package(ModelPackageName="solo", InferenceSpecification={"Containers": PIPELINE})
    assert exc.value.response["Error"]["Message"].startswith("Unversioned model packages (ModelPackageName) are not")
    with pytest.raises(ClientError) as exc:
        sm.create_model_package(ModelPackageGroupName=uniq("nogroup"), InferenceSpecification={"Containers": PIPELINE})
    assert "does not exist. Create it first" in exc.value.response["Error"]["Message"]
    group = uniq("rules")
    sm.create_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError) as exc:
        sm.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={"Containers": [{"ContainerHostname": "a"}, {"Image": "b"}]},
        )
    message = exc.value.response["Error"]["Message"]
    assert "Image must be specified for the container at 'inferenceSpecification.containers.1.member'." in message
    assert "ContainerHostname must be set on every container" in message
    assert sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []


def test_validation_errors_follow_botocores_shapes(sm: Any, daemon: Any) -> None:
    model = botocore_model()
    spec_shape = model.shape_for("InferenceSpecification")
    most = spec_shape.members["Containers"].metadata["max"]
    group = uniq("shapes")
    sm.create_model_package_group(ModelPackageGroupName=group)

    too_many = [{"Image": f"example.com/c{i}:1"} for i in range(most + 1)]
    code, message = refused(
        daemon,
        "CreateModelPackage",
        {"ModelPackageGroupName": group, "InferenceSpecification": {"Containers": too_many}},
    )
    assert code == "ValidationException"
    assert (
        f"at 'inferenceSpecification.containers' failed to satisfy constraint: Member must have length less than"
        f" or equal to {most}" in message
    )

    # An enum the model lists, in the model's order.
    statuses = model.shape_for("ModelApprovalStatus").enum
    _, message = refused(
        daemon,
        "UpdateModelPackage",
        {"ModelPackageArn": f"{ARN_PREFIX}:model-package/{group}/1", "ModelApprovalStatus": "Yes"},
    )
    assert message == (
        "1 validation error detected: Value 'Yes' at 'modelApprovalStatus' failed to satisfy constraint:"
        f" Member must satisfy enum value set: [{', '.join(statuses)}]"
    )

    # A Unicode-category pattern (EntityDescription): a control character is not in it.
    desc_shape = model.operation_model("CreateModelPackageGroup").input_shape.members["ModelPackageGroupDescription"]
    _, message = refused(
        daemon, "CreateModelPackageGroup", {"ModelPackageGroupName": uniq("g"), "ModelPackageGroupDescription": "a\x07"}
    )
    assert (
        "at 'modelPackageGroupDescription' failed to satisfy constraint: Member must satisfy regular expression"
        in message
    )
    assert desc_shape.metadata["pattern"] in message
    assert sm.list_model_package_groups(NameContains="shapes")  # the refused group was not created alongside

    # What botocore checks on the client, the daemon refuses too (for clients that do not check).
    for operation, body in (
        ("CreateModelPackageGroup", {}),
        ("CreateModelPackage", {"ModelPackageGroupName": group, "InferenceSpecification": {"Containers": []}}),
        ("DescribeModelPackage", {"ModelPackageName": 3}),
    ):
        with pytest.raises(ParamValidationError):
            getattr(sm, _snake(operation))(**body)
        code, _ = refused(daemon, operation, body)
        assert code == "ValidationException"
    longest = model.shape_for("EntityName").metadata["max"]
    _, message = refused(daemon, "CreateModelPackageGroup", {"ModelPackageGroupName": "g" * (longest + 1)})
    assert f"Member must have length less than or equal to {longest}" in message


def _snake(operation: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in operation).lstrip("_")


def test_cli_registers_a_pipeline_spec_and_apply_refuses_a_mixed_model_section(daemon: Any, tmp_path: Any) -> None:
    group = uniq("spec")
    daemon.cli("create-model-package-group", "--model-package-group-name", group, check=True)
    (tmp_path / "prep.tar.gz").write_bytes(b"not read until deployed")
    spec = {
        "model": {
            "ModelName": "m",
            "Containers": [
                {"ContainerHostname": "prep", "Image": "example.com/prep:1", "ModelDataUrl": "prep.tar.gz"},
                {"ContainerHostname": "model", "Image": "example.com/model:1"},
            ],
        }
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(json.dumps(spec))
    out = daemon.cli_json("create-model-package", "-f", str(path), "--model-package-group-name", group)
    desc = daemon.cli_json("describe-model-package", "--model-package-name", out["ModelPackageArn"])
    containers = desc["InferenceSpecification"]["Containers"]
    # A relative model-data path is the spec file's, made absolute for the daemon.
    assert containers[0]["ModelDataUrl"] == str(tmp_path / "prep.tar.gz")
    assert [c["ContainerHostname"] for c in containers] == ["prep", "model"]

    spec["model"]["ModelPackageGroupName"] = group
    spec["endpointConfig"] = {"EndpointConfigName": "c", "ProductionVariants": []}
    spec["endpoint"] = {"EndpointName": "e"}
    path.write_text(json.dumps(spec))
    mixed = daemon.cli("apply", "-f", str(path))
    assert mixed.returncode == 252
    # rich boxes and wraps the message: compare its words
    words = " ".join(mixed.stderr.decode().replace("│", " ").split())
    assert "both ModelPackageGroupName and containers" in words, words


def test_cli_mirrors_the_aws_cli(daemon: Any) -> None:
    group = uniq("cli")
    daemon.cli("create-model-package-group", "--model-package-group-name", group, check=True)
    out = daemon.cli_json(
        "create-model-package",
        "--model-package-group-name",
        group,
        "--container",
        "image=example.com/prep:1,hostname=prep,env.STAGE=prep",
        "--container",
        "image=example.com/model:1,hostname=model",
        "--supported-content-types",
        "text/csv",
        "--customer-metadata-properties",
        "owner=ml",
    )
    arn = out["ModelPackageArn"]
    assert arn.endswith(f"/{group}/1")
    listed = daemon.cli_json("list-model-packages", "--model-package-group-name", group)
    assert [p["ModelApprovalStatus"] for p in listed["ModelPackageSummaryList"]] == ["PendingManualApproval"]
    daemon.cli("update-model-package", "--model-package-arn", arn, "--model-approval-status", "Approved", check=True)
    desc = daemon.cli_json("describe-model-package", "--model-package-name", f"{group}/1")
    assert desc["ModelApprovalStatus"] == "Approved"
    assert desc["CustomerMetadataProperties"] == {"owner": "ml"}
    assert desc["InferenceSpecification"]["Containers"][0]["Environment"] == {"STAGE": "prep"}
    table = daemon.cli("list-model-packages", "--model-package-group-name", group, check=True).stdout.decode()
    assert "Approved" in table
    failed = daemon.cli("delete-model-package-group", "--model-package-group-name", group)
    assert failed.returncode == 254
    assert b"ConflictException" in failed.stderr
    daemon.cli("delete-model-package", "--model-package-name", f"{group}/1", check=True)
    daemon.cli("delete-model-package-group", "--model-package-group-name", group, check=True)
