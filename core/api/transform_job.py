"""The transform-job operations at the wire edge: CreateTransformJob checked and decoded into the
``TransformSpec`` batch runs, ListTransformJobs filtered and paged here. The other operations'
member constraints are checked by the operation table (``api.shapes``)."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api import listing
from inferpipe.core.api.validation import prune_nulls
from inferpipe.core.batch.jobs import TransformManager
from inferpipe.core.batch.spec import (
    KIND,
    TransformSpec,
    summary,
    validate_create_transform_job,
)


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

