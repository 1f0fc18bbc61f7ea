"""The SageMaker ModelPackage resource, versioned inside its group (``<group>/<version>``): create,
describe, list, approve (UpdateModelPackage) and delete, and how CreateModel's ``ModelPackageName``
turns into the containers a version registered.

A version's containers are copied into the model that names it, as SageMaker does: deleting or
re-approving the version later changes no model (and no endpoint) already created from it.
"""

from __future__ import annotations

import re
from typing import Any

from inferpipe.core import arns
from inferpipe.core.api import listing
from inferpipe.core.api.model import MAX_ENV_BYTES, check_container
from inferpipe.core.api.model_package_group import COMPLETED, name_of
from inferpipe.core.api.model_package_group import KIND as GROUP_KIND
from inferpipe.core.api.model_package_group import PACKAGE_KIND as KIND
from inferpipe.core.api.validation import Checker, prune_nulls
from inferpipe.core.arns import arn
from inferpipe.core.config import Settings
from inferpipe.core.containers.hostpaths import HostPathPolicy
from inferpipe.core.containers.modeldata import model_data_problem
from inferpipe.core.errors import ValidationException
from inferpipe.core.store import Record, Store

APPROVED = "Approved"
PENDING = "PendingManualApproval"
VERSIONED_NAME = re.compile(r"(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<version>[0-9]{1,9})")
# The members of a registered container a model's ContainerDefinition has too; the rest
# (Framework, NearestModelName, ModelInput, ...) describe the package, not how it runs.
CONTAINER_MEMBERS = ("ContainerHostname", "Image", "ModelDataUrl", "ModelDataSource", "Environment")
# Members inferpipe cannot honour: it runs no validation jobs and hosts no algorithms.
UNSUPPORTED_MEMBERS = {
    "SourceAlgorithmSpecification": "inferpipe hosts no algorithm resources; register containers in"
    " InferenceSpecification instead",
    "ValidationSpecification": "inferpipe runs no validation transform jobs; test the version with"
    " create-transform-job before approving it",
}
UPDATABLE = frozenset(
    {
        "ModelPackageArn",
        "ModelApprovalStatus",
        "ApprovalDescription",
        "CustomerMetadataProperties",
        "CustomerMetadataPropertiesToRemove",
    }
)
APPROVE_HINT = (
    "Approve it with UpdateModelPackage (ModelApprovalStatus=Approved), or:"
    " inferpipe update-model-package --model-package-arn {arn} --model-approval-status Approved"
)


def parse_versioned(value: str) -> tuple[str, int] | None:
    """(group, version) of a versioned package's name (``group/3``) or ARN; None otherwise."""
    if value.startswith("arn:"):
        parsed = arns.parse(value)
        if parsed is None or parsed[0] != KIND:
            return None
        value = parsed[1]
    m = VERSIONED_NAME.fullmatch(value)
    return (m["group"], int(m["version"])) if m else None


class ModelPackageOperations:
    def __init__(self, settings: Settings, store: Store, host_paths: HostPathPolicy | None = None) -> None:
        self.settings = settings
        self.store = store
        self.host_paths = host_paths

    def must(self, value: str) -> Record:
        versioned = parse_versioned(value)
        rec = self.store.get(KIND, f"{versioned[0]}/{versioned[1]}") if versioned else None
        if rec is None:
            shown = value if value.startswith("arn:") else arn(self.settings, KIND, value)
            hint = "" if versioned else " Name a version of a model package group: <group>/<version>, or its ARN."
            raise ValidationException(f"ModelPackage {shown} does not exist.{hint}")
        return rec

    # operations ----------------------------------------------------------------------------------
    async def create(self, req: dict[str, Any]) -> dict[str, Any]:
        req = prune_nulls(req)
        validate_create_model_package(req, self.host_paths)
        group_name = name_of(req["ModelPackageGroupName"])
        with self.store.transaction():
            group = self.store.get(GROUP_KIND, group_name)
            if group is None:
                raise ValidationException(
                    f"ModelPackageGroup {group_name} does not exist. Create it first (CreateModelPackageGroup,"
                    f" or inferpipe create-model-package-group --model-package-group-name {group_name})."
                )
            # Versions count up per group and are never reused, even after a delete.
            version = int(group.state.get("next_version", 1))
            name = f"{group.name}/{version}"
            package_arn = arn(self.settings, KIND, name)
            spec = {k: v for k, v in req.items() if k not in ("Tags", "ClientToken")}
            spec["ModelPackageGroupName"] = group.name
            spec.setdefault("ModelApprovalStatus", PENDING)
            self.store.insert(KIND, name, package_arn, spec, status=COMPLETED, state={"version": version})
            self.store.update(GROUP_KIND, group.name, state={**group.state, "next_version": version + 1})
            if req.get("Tags"):
                self.store.set_tags(package_arn, req["Tags"])
        return {"ModelPackageArn": package_arn}

    async def describe(self, req: dict[str, Any]) -> dict[str, Any]:
        return describe(self.must(req["ModelPackageName"]))

    async def list(self, req: dict[str, Any]) -> dict[str, Any]:
        records = self.store.all(KIND)
        group = req.get("ModelPackageGroupName")
        kind = req.get("ModelPackageType")
        if kind == "Unversioned" or (group is None and kind not in ("Versioned", "Both")):
            # As SageMaker: without a group, only unversioned packages are listed unless asked,
            # and inferpipe has none.
            records = []
        if group is not None:
            prefix = name_of(group).lower() + "/"
            records = [r for r in records if r.name.lower().startswith(prefix)]
        if req.get("ModelApprovalStatus"):
            records = [r for r in records if r.spec.get("ModelApprovalStatus") == req["ModelApprovalStatus"]]
        items, token = listing.page(
            records,
            req,
            summary,
            sort_keys={
                "Name": lambda r: (r.spec["ModelPackageGroupName"].lower(), r.state.get("version", 0)),
                "CreationTime": lambda r: (r.created, r.state.get("version", 0)),
            },
        )
        return {"ModelPackageSummaryList": items, **({"NextToken": token} if token else {})}

    async def update(self, req: dict[str, Any]) -> dict[str, Any]:
        req = prune_nulls(req)
        unsupported = sorted(set(req) - UPDATABLE)
        if unsupported:
            raise ValidationException(
                f"UpdateModelPackage with {', '.join(unsupported)} is not supported by inferpipe: it updates"
                " ModelApprovalStatus, ApprovalDescription and CustomerMetadataProperties."
            )
        rec = self.must(req["ModelPackageArn"])
        spec = dict(rec.spec)
        before = spec.get("ModelApprovalStatus", PENDING)
        for key in ("ModelApprovalStatus", "ApprovalDescription"):
            if key in req:
                spec[key] = req[key]
        metadata = dict(spec.get("CustomerMetadataProperties") or {})
        metadata.update(req.get("CustomerMetadataProperties") or {})
        for key in req.get("CustomerMetadataPropertiesToRemove") or []:
            metadata.pop(key, None)
        if metadata:
            spec["CustomerMetadataProperties"] = metadata
        else:
            spec.pop("CustomerMetadataProperties", None)
        after = spec.get("ModelApprovalStatus", PENDING)
        # The event log keeps who-approved-what history: every approval change is an event.
        event = "ApprovalChanged" if after != before else "Updated"
        detail: dict[str, Any] = {"from": before, "to": after} if after != before else {}
        if "ApprovalDescription" in req:
            detail["approvalDescription"] = req["ApprovalDescription"]
        self.store.update(KIND, rec.name, spec=spec, event=event, detail=detail)
        return {"ModelPackageArn": rec.arn}

    async def delete(self, req: dict[str, Any]) -> dict[str, Any]:
        rec = self.must(req["ModelPackageName"])
        self.store.delete(KIND, rec.name)
        return {}

    # CreateModel ---------------------------------------------------------------------------------
    def resolve(self, req: dict[str, Any]) -> dict[str, Any]:
        """CreateModel's request with every container that names a package replaced by that
        version's containers, each keeping the package's ARN as its ModelPackageName (so
        DescribeModel shows where it came from). Only Approved versions resolve."""
        primary = req.get("PrimaryContainer")
        containers = req.get("Containers")
        if isinstance(primary, dict) and primary.get("ModelPackageName") is not None:
            expanded = self._expand(primary, "primaryContainer")
            out = {k: v for k, v in req.items() if k != "PrimaryContainer"}
            if len(expanded) == 1:
                out["PrimaryContainer"] = expanded[0]
            else:
                out["Containers"] = expanded  # a registered pipeline serves as one
            return out
        if isinstance(containers, list) and any(
            isinstance(x, dict) and x.get("ModelPackageName") is not None for x in containers
        ):
            resolved: list[Any] = []
            for i, cont in enumerate(containers, 1):
                if isinstance(cont, dict) and cont.get("ModelPackageName") is not None:
                    resolved.extend(self._expand(cont, f"containers.{i}.member"))
                else:
                    resolved.append(cont)
            return {**req, "Containers": resolved}
        return req

    def _expand(self, ref: dict[str, Any], path: str) -> list[dict[str, Any]]:
        given = sorted(k for k in ("Image", "ModelDataUrl", "ModelDataSource") if ref.get(k) is not None)
        if given:
            raise ValidationException(
                f"The container at '{path}' names ModelPackageName and {', '.join(given)}: the model package"
                " supplies them. Leave them out (Environment and ContainerHostname may be given)."
            )
        rec = self.must(ref["ModelPackageName"])
        status = rec.spec.get("ModelApprovalStatus", PENDING)
        if status != APPROVED:
            raise ValidationException(
                f"Model package {rec.arn} has ModelApprovalStatus {status}: only Approved model package"
                f" versions can be deployed. {APPROVE_HINT.format(arn=rec.arn)}."
            )
        registered = rec.spec["InferenceSpecification"]["Containers"]
        out = []
        for cont in registered:
            c = {k: cont[k] for k in CONTAINER_MEMBERS if k in cont}
            if ref.get("Environment"):
                c["Environment"] = {**(c.get("Environment") or {}), **ref["Environment"]}
            if ref.get("ContainerHostname") and len(registered) == 1:
                c["ContainerHostname"] = ref["ContainerHostname"]
            c["ModelPackageName"] = rec.arn
            out.append(c)
        return out


def validate_create_model_package(req: dict[str, Any], host_paths: HostPathPolicy | None = None) -> None:
    """inferpipe's rules for CreateModelPackage (the member constraints are checked before, by the
    operation table), every violation at once."""
    c = Checker()
    if req.get("ModelPackageName") is not None:
        c.rule(
            "Unversioned model packages (ModelPackageName) are not supported by inferpipe: give"
            " ModelPackageGroupName instead to register a version in a model package group"
            " (create the group with CreateModelPackageGroup)."
        )
    elif req.get("ModelPackageGroupName") is None:
        c.rule("ModelPackageGroupName must be specified: inferpipe registers versioned model packages.")
    for member, why in UNSUPPORTED_MEMBERS.items():
        if req.get(member) is not None:
            c.rule(f"{member} is not supported by inferpipe: {why}.")
    spec = req.get("InferenceSpecification")
    if spec is None:
        c.rule("InferenceSpecification must be specified: it holds the containers the version deploys.")
    containers = spec.get("Containers") if isinstance(spec, dict) else None
    dicts = [x for x in containers if isinstance(x, dict)] if isinstance(containers, list) else []
    env_bytes = 0
    for i, cont in enumerate(dicts, 1):
        path = f"inferenceSpecification.containers.{i}.member"
        env_bytes += check_container(c, cont, path)
    named = [x.get("ContainerHostname") for x in dicts if x.get("ContainerHostname")]
    if named and len(named) != len(dicts):
        c.rule(
            "ContainerHostname must be set on every container of the pipeline or on none of them"
            f" ({len(named)} of {len(dicts)} containers set it)."
        )
    duplicates = sorted({h for h in named if named.count(h) > 1})
    if duplicates:
        c.rule(f"ContainerHostname must be unique within a model package: {', '.join(duplicates)} used more than once.")
    if env_bytes > MAX_ENV_BYTES:
        c.rule(
            f"The combined length of all Environment keys and values is {env_bytes} bytes, more than the"
            f" {MAX_ENV_BYTES // 1024} KB limit."
        )
    if host_paths is not None and not c.errors and not c.rules:
        for cont in dicts:
            url = cont.get("ModelDataUrl")
            problem = model_data_problem(url, host_paths) if isinstance(url, str) else None
            if problem:
                c.rule(problem)
    c.raise_if_any()


def describe(rec: Record) -> dict[str, Any]:
    body = {k: v for k, v in rec.spec.items() if k != "ModelPackageGroupName"}
    return {
        "ModelPackageName": rec.spec["ModelPackageGroupName"],
        "ModelPackageGroupName": rec.spec["ModelPackageGroupName"],
        "ModelPackageVersion": rec.state.get("version"),
        "ModelPackageArn": rec.arn,
        "CreationTime": rec.created,
        "LastModifiedTime": rec.modified,
        "ModelPackageStatus": rec.status or COMPLETED,
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        **body,
    }


def summary(rec: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ModelPackageName": rec.spec["ModelPackageGroupName"],
        "ModelPackageGroupName": rec.spec["ModelPackageGroupName"],
        "ModelPackageVersion": rec.state.get("version"),
        "ModelPackageArn": rec.arn,
        "CreationTime": rec.created,
        "ModelPackageStatus": rec.status or COMPLETED,
        "ModelApprovalStatus": rec.spec.get("ModelApprovalStatus", PENDING),
    }
    if rec.spec.get("ModelPackageDescription") is not None:
        out["ModelPackageDescription"] = rec.spec["ModelPackageDescription"]
    return out
