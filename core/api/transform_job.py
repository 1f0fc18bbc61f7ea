"""The transform-job operations at the wire edge: CreateTransformJob checked (the service model's
member constraints and the service's own rules, every violation at once) and decoded into the
``TransformSpec`` batch runs; ListTransformJobs filtered and paged here. The other operations'
member constraints are checked by the operation table (``api.shapes``)."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api import listing
from inferpipe.core.api.shapes import check_request, enum_of
from inferpipe.core.api.validation import Checker, prune_nulls
from inferpipe.core.batch.dataprocessing import DataProcessing
from inferpipe.core.batch.jobs import TransformManager
from inferpipe.core.batch.spec import (
    DEFAULT_MAX_PAYLOAD_MB,
    KIND,
    MAX_CONCURRENCY_X_PAYLOAD,
    MAX_PAYLOAD_MB,
    TransformSpec,
    summary,
)

INSTANCE_TYPES = enum_of("TransformInstanceType")


class TransformJobOperations:
    def __init__(self, transforms: TransformManager) -> None:
        self.transforms = transforms

    async def create(self, req: dict[str, Any]) -> dict[str, Any]:
        req = prune_nulls(req)
        validate_create_transform_job(req)
        record = {k: v for k, v in req.items() if k != "Tags"}
        return await self.transforms.create(TransformSpec.from_api(req), record, req.get("Tags"))

    async def describe(self, req: dict[str, Any]) -> dict[str, Any]:
        return await self.transforms.describe(req["TransformJobName"])

    async def list(self, req: dict[str, Any]) -> dict[str, Any]:
        items, token = listing.page(self.transforms.store.all(KIND), req, summary)
        return {"TransformJobSummaries": items, **({"NextToken": token} if token else {})}

    async def stop(self, req: dict[str, Any]) -> dict[str, Any]:
        return await self.transforms.stop(req["TransformJobName"])


def validate_create_transform_job(req: dict[str, Any]) -> None:
    """Every member constraint at once (the service model's), then the service rules (see ``Checker``)."""
    c = Checker()
    check_request("CreateTransformJob", req, c)
    mct = req.get("MaxConcurrentTransforms")
    payload = req.get("MaxPayloadInMB")
    payload_ok = isinstance(payload, int) and not isinstance(payload, bool)
    # The model puts no ceiling on MaxPayloadInMB; the service refuses more than 100 MB as a
    # member constraint, so it is reported with them.
    if payload_ok and payload > MAX_PAYLOAD_MB:
        c.fail(payload, "maxPayloadInMB", f"Member must have value less than or equal to {MAX_PAYLOAD_MB}")
    tin = _dict(req.get("TransformInput"))
    tout = _dict(req.get("TransformOutput"))
    split, content_type = _str(tin.get("SplitType")), _str(tin.get("ContentType"))
    assemble, accept = _str(tout.get("AssembleWith")), _str(tout.get("Accept"))
    dp = req.get("DataProcessing")

    # Service rules, reported once the members are well-formed.
    if isinstance(mct, int) and not isinstance(mct, bool) and mct and (payload is None or payload_ok):
        effective_payload = DEFAULT_MAX_PAYLOAD_MB if payload is None else payload
        if mct * effective_payload > MAX_CONCURRENCY_X_PAYLOAD:
            c.rule(
                f"MaxConcurrentTransforms ({mct}) multiplied by MaxPayloadInMB ({effective_payload}) must be less"
                f" than or equal to {MAX_CONCURRENCY_X_PAYLOAD}."
            )
    source = _dict(_dict(tin.get("DataSource")).get("S3DataSource"))
    if source.get("S3DataType") == "AugmentedManifestFile":
        c.rule("S3DataType AugmentedManifestFile is not compatible with batch transform: use S3Prefix or ManifestFile.")
    if source.get("S3DataType") == "Converse":
        c.rule("S3DataType Converse is not supported for batch transform: use S3Prefix or ManifestFile.")
    if isinstance(dp, dict) and all(isinstance(dp.get(k, ""), str) for k in ("InputFilter", "OutputFilter")):
        for problem in DataProcessing.from_api(dp).validate(content_type, accept, split, assemble):
            c.rule(problem.rstrip(".") + ".")
    c.raise_if_any()


def _dict(value: Any) -> dict[str, Any]:
    """A member that should be a structure, or {} when it is not (its own check reports that)."""
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
