"""The SageMaker API as operations on typed engine objects: one method per operation, reached
through the table in ``operations.py``. Design notes: docs/wire-edge.md."""

from __future__ import annotations

import os
import time
from typing import Any

from inferpipe.core import arns
from inferpipe.core.api import endpoint_config, listing, model
from inferpipe.core.api.alarm import check_alarm_names, decode_alarm
from inferpipe.core.api.container_logs import read_logs
from inferpipe.core.api.endpoint import decode_create_endpoint, decode_update_endpoint, decode_weights_and_capacities
from inferpipe.core.api.invocation_trace import get_invocation_trace
from inferpipe.core.api.model_package import ModelPackageOperations
from inferpipe.core.api.model_package_group import ModelPackageGroupOperations
from inferpipe.core.api.shapes import check_member, validate_request
from inferpipe.core.api.validation import Checker, prune_nulls
from inferpipe.core.arns import arn
from inferpipe.core.config import Settings
from inferpipe.core.errors import ValidationException
from inferpipe.core.limits import InstanceBudget, variant_counts
from inferpipe.core.serving.endpoints import EndpointManager
from inferpipe.core.serving.metrics import BUCKET_SECONDS, KEEP_BUCKETS, Metrics
from inferpipe.core.store import AlreadyExists, Store

MAX_EVENTS = 10_000  # events one Inferpipe.Events call returns
METRICS_SECONDS = BUCKET_SECONDS * KEEP_BUCKETS  # the metrics kept in memory


class SageMakerService:
    def __init__(self, settings: Settings, store: Store, endpoints: EndpointManager, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.endpoints = endpoints
        self.metrics = metrics
        self.instances = InstanceBudget(settings, store)
        self.started = time.time()
        # Facts the daemon adds to its status (its instance id, which `daemon stop` checks).
        self.status_extra: dict[str, Any] = {}
        self._package_groups = ModelPackageGroupOperations(settings, store)
        self._packages = ModelPackageOperations(settings, store, endpoints.launcher.cache.policy)

    # The model registry's operations (their own modules), which the operation table reaches
    # through the service; CreateModel resolves ModelPackageName against the same registry.
    @property
    def package_groups(self) -> ModelPackageGroupOperations:
        return self._package_groups

    @property
    def packages(self) -> ModelPackageOperations:
        return self._packages

    # models -------------------------------------------------------------------------------------
    async def create_model(self, req: dict[str, Any]) -> dict[str, Any]:
        req = prune_nulls(req)
        if model.names_package(req):
            # The request as sent is checked first, so a malformed ModelPackageName reads as such.
            validate_request("CreateModel", req)
            req = self.packages.resolve(req)
        model.validate_create_model(req, self.endpoints.launcher.cache.policy)
        name = req["ModelName"]
        model_arn = arn(self.settings, "model", name)
        try:
            with self.store.transaction():
                self.store.insert("model", name, model_arn, req)
                if req.get("Tags"):
                    self.store.set_tags(model_arn, req["Tags"])
        except AlreadyExists:
            raise ValidationException(f'Cannot create already existing model "{model_arn}".') from None
        return {"ModelArn": model_arn}

    def _must(self, kind: str, name: Any, label: str) -> Any:
        rec = self.store.get(kind, name)
        if rec is None:
            raise ValidationException(f'Could not find {label} "{arn(self.settings, kind, name)}".')
        return rec

    async def describe_model(self, req: dict[str, Any]) -> dict[str, Any]:
        return model.describe(self._must("model", req["ModelName"], "model"))

    async def delete_model(self, req: dict[str, Any]) -> dict[str, Any]:
        rec = self._must("model", req["ModelName"], "model")
        self.store.delete("model", rec.name)
        return {}

    async def list_models(self, req: dict[str, Any]) -> dict[str, Any]:
        items, token = listing.page(self.store.all("model"), req, model.summary)
        return {"Models": items, **({"NextToken": token} if token else {})}

    # endpoint configs ---------------------------------------------------------------------------
    async def create_endpoint_config(self, req: dict[str, Any]) -> dict[str, Any]:
        req = prune_nulls(req)
        endpoint_config.validate_create_endpoint_config(req, self.endpoints.launcher.cache.policy)
        name = req["EndpointConfigName"]
        config_arn = arn(self.settings, "endpoint-config", name)
        missing = [v["ModelName"] for v in req["ProductionVariants"] if self.store.get("model", v["ModelName"]) is None]
        if missing:
            raise ValidationException(f'Could not find model "{arn(self.settings, "model", missing[0])}".')
        if self.store.get("endpoint-config", name) is not None:
            raise ValidationException(f'Cannot create already existing endpoint configuration "{config_arn}".')
        self.instances.check_variants(variant_counts(req["ProductionVariants"], "InitialInstanceCount").items())
        try:
            with self.store.transaction():
                self.store.insert("endpoint-config", name, config_arn, req)
                if req.get("Tags"):
                    self.store.set_tags(config_arn, req["Tags"])
        except AlreadyExists:
            raise ValidationException(
                f'Cannot create already existing endpoint configuration "{config_arn}".'
            ) from None
        return {"EndpointConfigArn": config_arn}

    async def describe_endpoint_config(self, req: dict[str, Any]) -> dict[str, Any]:
        rec = self._must("endpoint-config", req["EndpointConfigName"], "endpoint configuration")
        return endpoint_config.describe(rec)

    async def delete_endpoint_config(self, req: dict[str, Any]) -> dict[str, Any]:
        rec = self._must("endpoint-config", req["EndpointConfigName"], "endpoint configuration")
        self.store.delete("endpoint-config", rec.name)
        return {}

    async def list_endpoint_configs(self, req: dict[str, Any]) -> dict[str, Any]:
        items, token = listing.page(self.store.all("endpoint-config"), req, endpoint_config.summary)
        return {"EndpointConfigs": items, **({"NextToken": token} if token else {})}

    # endpoints ----------------------------------------------------------------------------------
    async def create_endpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        return await self.endpoints.create(decode_create_endpoint(req))

    async def update_endpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        return await self.endpoints.deployments.update_endpoint(decode_update_endpoint(req))

    async def update_endpoint_weights_and_capacities(self, req: dict[str, Any]) -> dict[str, Any]:
        return await self.endpoints.deployments.update_weights(decode_weights_and_capacities(req))

    async def describe_endpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        return self.endpoints.describe(req["EndpointName"])

    async def delete_endpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        await self.endpoints.delete(req["EndpointName"])
        return {}

    async def list_endpoints(self, req: dict[str, Any]) -> dict[str, Any]:
        items, token = listing.page(self.store.all("endpoint"), req, self.endpoints.summary)
        return {"Endpoints": items, **({"NextToken": token} if token else {})}

    # tags ---------------------------------------------------------------------------------------
    def _resource_for_arn(self, value: str) -> str:
        """The ARN of an existing resource (its member constraints were checked with the request's)."""
        parsed = arns.parse(value)
        if parsed is not None:
            kind, name = parsed
            rec = self.store.get(kind, name)
            if rec is not None and rec.arn == value:
                return value
        raise ValidationException(f'Could not find resource "{value}".')

    async def add_tags(self, req: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource_for_arn(req["ResourceArn"])
        self.store.set_tags(resource, req["Tags"])
        return {"Tags": req["Tags"]}

    async def list_tags(self, req: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource_for_arn(req["ResourceArn"])
        tags = self.store.tags(resource)
        offset = listing.decode_token(req["NextToken"]) if req.get("NextToken") else 0
        limit = int(req.get("MaxResults") or 50)
        out: dict[str, Any] = {"Tags": tags[offset : offset + limit]}
        if offset + limit < len(tags):
            out["NextToken"] = listing.encode_token(offset + limit)
        return out

    async def delete_tags(self, req: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource_for_arn(req["ResourceArn"])
        self.store.delete_tags(resource, req["TagKeys"])
        return {}

    # inferpipe extensions -----------------------------------------------------------------------
    async def put_metric_alarm(self, req: dict[str, Any]) -> dict[str, Any]:
        self.endpoints.deployments.alarms.put(decode_alarm(req))
        return {}

    async def describe_alarms(self, req: dict[str, Any]) -> dict[str, Any]:
        c = Checker()
        check_alarm_names(c, req.get("AlarmNames"))
        c.raise_if_any()
        alarms = self.endpoints.deployments.alarms
        names = req.get("AlarmNames") or None
        for a in alarms.describe(names):
            alarms.evaluate(a["AlarmName"])
        return {"MetricAlarms": alarms.describe(names)}

    async def delete_alarms(self, req: dict[str, Any]) -> dict[str, Any]:
        c = Checker()
        if c.required(req, "AlarmNames", "alarmNames"):
            check_alarm_names(c, req["AlarmNames"])
        c.raise_if_any()
        self.endpoints.deployments.alarms.delete(list(req["AlarmNames"]))
        return {}

    async def status(self, req: dict[str, Any]) -> dict[str, Any]:
        from inferpipe.core.version import VERSION

        return {
            "url": self.settings.url,
            "pid": os.getpid(),
            "version": VERSION,
            "home": str(self.settings.home),
            "region": self.settings.region,
            "schemaVersion": self.store.schema_version,
            "uptimeSeconds": round(time.time() - self.started, 1),
            "endpoints": len(self.endpoints.fleets),
            **self.status_extra,
        }

    async def events(self, req: dict[str, Any]) -> dict[str, Any]:
        c = Checker()
        c.string(req.get("Kind"), "kind", enum=list(arns.KIND_TO_RESOURCE))
        c.string(req.get("Name"), "name", max_len=63)
        c.integer(req.get("Limit"), "limit", minimum=1, maximum=MAX_EVENTS)
        c.raise_if_any()
        return {"Events": self.store.events(req.get("Kind"), req.get("Name"), int(req.get("Limit") or 200))}

    async def endpoint_metrics(self, req: dict[str, Any]) -> dict[str, Any]:
        c = Checker()
        if c.required(req, "EndpointName", "endpointName"):
            check_member("EndpointName", req["EndpointName"], "endpointName", c)
        c.number(req.get("Seconds"), "seconds", minimum=1, maximum=METRICS_SECONDS)
        c.raise_if_any()
        name = req["EndpointName"]
        self.endpoints.get(name)
        return {"EndpointName": name, "Metrics": self.metrics.endpoint_summary(name, float(req.get("Seconds") or 300))}

    async def get_invocation_trace(self, req: dict[str, Any]) -> dict[str, Any]:
        return get_invocation_trace(self.endpoints.router.traces, req)

    async def logs(self, req: dict[str, Any]) -> dict[str, Any]:
        return await read_logs(self.endpoints.runtime, self.store, req, self.endpoints.router.invocation_log)
