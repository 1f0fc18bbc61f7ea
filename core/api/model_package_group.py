"""The SageMaker ModelPackageGroup resource: a named set of versioned model packages (the model
registry). Create, describe, list and delete; the versions live in ``model_package.py``."""

from __future__ import annotations

from typing import Any

from inferpipe.core import arns
from inferpipe.core.api import listing
from inferpipe.core.api.validation import prune_nulls
from inferpipe.core.arns import arn
from inferpipe.core.config import Settings
from inferpipe.core.errors import ConflictException, ValidationException
from inferpipe.core.store import AlreadyExists, Record, Store

KIND = "model-package-group"
PACKAGE_KIND = "model-package"
COMPLETED = "Completed"
# Members inferpipe cannot honour: it has no managed storage of its own to configure.
UNSUPPORTED_GROUP_MEMBERS = ("ManagedConfiguration",)


def name_of(value: str) -> str:
    """A group's name from its name or its ARN (the ArnOrName members accept both)."""
    if value.startswith("arn:"):
        parsed = arns.parse(value)
        return parsed[1] if parsed is not None and parsed[0] == KIND else value
    return value


def packages_of(store: Store, group: str) -> list[Record]:
    prefix = group.lower() + "/"
    return [r for r in store.all(PACKAGE_KIND) if r.name.lower().startswith(prefix)]


class ModelPackageGroupOperations:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def must(self, value: str) -> Record:
        name = name_of(value)
        rec = self.store.get(KIND, name)
        if rec is None:
            raise ValidationException(f"ModelPackageGroup {name} does not exist.")
        return rec

    async def create(self, req: dict[str, Any]) -> dict[str, Any]:
        req = prune_nulls(req)
        for member in UNSUPPORTED_GROUP_MEMBERS:
            if member in req:
                raise ValidationException(f"{member} is not supported by inferpipe: leave it out.")
        name = req["ModelPackageGroupName"]
        group_arn = arn(self.settings, KIND, name)
        spec = {k: v for k, v in req.items() if k != "Tags"}
        try:
            with self.store.transaction():
                self.store.insert(KIND, name, group_arn, spec, status=COMPLETED, state={"next_version": 1})
                if req.get("Tags"):
                    self.store.set_tags(group_arn, req["Tags"])
        except AlreadyExists:
            raise ValidationException(f"Model Package Group already exists: {group_arn}") from None
        return {"ModelPackageGroupArn": group_arn}

    async def describe(self, req: dict[str, Any]) -> dict[str, Any]:
        rec = self.must(req["ModelPackageGroupName"])
        return {**summary(rec), "CreatedBy": {}}  # required in the output shape; no users here

    async def list(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("CrossAccountFilterOption") == "CrossAccount":
            return {"ModelPackageGroupSummaryList": []}  # one account on this machine: none shared with it
        items, token = listing.page(self.store.all(KIND), req, summary)
        return {"ModelPackageGroupSummaryList": items, **({"NextToken": token} if token else {})}

    async def delete(self, req: dict[str, Any]) -> dict[str, Any]:
        rec = self.must(req["ModelPackageGroupName"])
        with self.store.transaction():
            versions = packages_of(self.store, rec.name)
            if versions:
                raise ConflictException(
                    f"Model Package Group {rec.name} cannot be deleted: it still contains {len(versions)} model"
                    f" package version(s). Delete them first (DeleteModelPackage, or inferpipe delete-model-package"
                    f" --model-package-name {rec.name}/<version>)."
                )
            self.store.delete(KIND, rec.name)
        return {}


def summary(rec: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ModelPackageGroupName": rec.name,
        "ModelPackageGroupArn": rec.arn,
        "CreationTime": rec.created,
        "ModelPackageGroupStatus": rec.status or COMPLETED,
    }
    if rec.spec.get("ModelPackageGroupDescription") is not None:
        out["ModelPackageGroupDescription"] = rec.spec["ModelPackageGroupDescription"]
    return out
