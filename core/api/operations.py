"""Every control-plane operation the daemon serves, by its X-Amz-Target, and the handler that runs it.

One explicit table, so searching for an operation's name (``CreateTransformJob``) lands on the line
that names its handler. ``SageMaker.*`` are the real API's operations; ``Inferpipe.*`` are this
daemon's own extensions (alarms, status, events, metrics, logs, shutdown), signed the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from inferpipe.core.api.service import SageMakerService
from inferpipe.core.api.shapes import validate_request
from inferpipe.core.api.supported import SUPPORTED_OPERATIONS
from inferpipe.core.api.transform_job import TransformJobOperations
from inferpipe.core.batch.jobs import TransformManager
from inferpipe.core.errors import UnknownOperationException

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

SAGEMAKER = "SageMaker."
INFERPIPE = "Inferpipe."
# Their resource validators check the members themselves, together with the service rules, so a
# validator called on its own (the unit tests do) checks as much as the operation.
VALIDATED_BY_RESOURCE = frozenset({"CreateModel", "CreateEndpointConfig", "CreateTransformJob"})


def operation_table(
    service: SageMakerService, transforms: TransformManager, shutdown: Handler | None = None
) -> dict[str, Handler]:
    jobs = TransformJobOperations(transforms)
    groups, packages = service.package_groups, service.packages
    table: dict[str, Handler] = {
        # models
        "SageMaker.CreateModel": service.create_model,
        "SageMaker.DescribeModel": service.describe_model,
        "SageMaker.DeleteModel": service.delete_model,
        "SageMaker.ListModels": service.list_models,
        # endpoint configs
        "SageMaker.CreateEndpointConfig": service.create_endpoint_config,
        "SageMaker.DescribeEndpointConfig": service.describe_endpoint_config,
        "SageMaker.DeleteEndpointConfig": service.delete_endpoint_config,
        "SageMaker.ListEndpointConfigs": service.list_endpoint_configs,
        # endpoints
        "SageMaker.CreateEndpoint": service.create_endpoint,
        "SageMaker.UpdateEndpoint": service.update_endpoint,
        "SageMaker.UpdateEndpointWeightsAndCapacities": service.update_endpoint_weights_and_capacities,
        "SageMaker.DescribeEndpoint": service.describe_endpoint,
        "SageMaker.DeleteEndpoint": service.delete_endpoint,
        "SageMaker.ListEndpoints": service.list_endpoints,
        # tags
        "SageMaker.AddTags": service.add_tags,
        "SageMaker.ListTags": service.list_tags,
        "SageMaker.DeleteTags": service.delete_tags,
        # transform jobs
        "SageMaker.CreateTransformJob": jobs.create,
        "SageMaker.DescribeTransformJob": jobs.describe,
        "SageMaker.ListTransformJobs": jobs.list,
        "SageMaker.StopTransformJob": jobs.stop,
        # the model registry
        "SageMaker.CreateModelPackageGroup": groups.create,
        "SageMaker.DescribeModelPackageGroup": groups.describe,
        "SageMaker.ListModelPackageGroups": groups.list,
        "SageMaker.DeleteModelPackageGroup": groups.delete,
        "SageMaker.CreateModelPackage": packages.create,
        "SageMaker.DescribeModelPackage": packages.describe,
        "SageMaker.ListModelPackages": packages.list,
        "SageMaker.UpdateModelPackage": packages.update,
        "SageMaker.DeleteModelPackage": packages.delete,
        # inferpipe extensions
        "Inferpipe.PutMetricAlarm": service.put_metric_alarm,
        "Inferpipe.DescribeAlarms": service.describe_alarms,
        "Inferpipe.DeleteAlarms": service.delete_alarms,
        "Inferpipe.Status": service.status,
        "Inferpipe.Events": service.events,
        "Inferpipe.EndpointMetrics": service.endpoint_metrics,
        "Inferpipe.Logs": service.logs,
        "Inferpipe.GetInvocationTrace": service.get_invocation_trace,
    }
    for target, handler in table.items():
        op = target.removeprefix(SAGEMAKER)
        if target.startswith(SAGEMAKER) and op in SUPPORTED_OPERATIONS and op not in VALIDATED_BY_RESOURCE:
            table[target] = _members_checked(op, handler)
    # Only a daemon process can stop itself; an engine hosted by the tests has no such operation.
    if shutdown is not None:
        table["Inferpipe.Shutdown"] = shutdown
    return table


class Operations:
    """The table, asked by the wire edge for the handler of a request's X-Amz-Target."""

    def __init__(self, table: Mapping[str, Handler]) -> None:
        self.table = dict(table)

    def handler(self, target: str) -> Handler:
        handler = self.table.get(target)
        if handler is None:
            # Only SageMaker's operations are listed: the extensions are inferpipe's own business.
            raise UnknownOperationException(
                f"Operation {target or '(none)'} is not supported by inferpipe. Supported: "
                + ", ".join(sorted(t.removeprefix(SAGEMAKER) for t in self.table if t.startswith(SAGEMAKER)))
                + "."
            )
        return handler

    def targets(self, prefix: str = "") -> list[str]:
        return sorted(t for t in self.table if t.startswith(prefix))


def _members_checked(operation: str, handler: Handler) -> Handler:
    """``handler`` behind the service model's member constraints of ``operation``'s input."""

    async def checked(req: dict[str, Any]) -> dict[str, Any]:
        validate_request(operation, req)
        return await handler(req)

    return checked
