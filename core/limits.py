"""Instance caps: how many instances one production variant, one endpoint, and the daemon in total
may run. Design notes: docs/serving.md."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from inferpipe.core.config import Settings
from inferpipe.core.errors import ResourceLimitExceeded
from inferpipe.core.store import Record, Store

ENDPOINT_KIND = "endpoint"
TRANSFORM_KIND = "transform-job"
# Statuses spelled out: their enums live in serving/state.py and batch/state.py, above this module.
RUNNING_JOB = frozenset({"InProgress", "Stopping"})


def _count(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def endpoint_instances(rec: Record) -> int:
    """Instances an endpoint record stands for: its variants, and a new fleet being deployed."""
    if rec.status == "Failed":
        return 0
    # The stored JSON of serving/state.py's EndpointState, read raw: the shared bottom imports no subsystem.
    variants = rec.state.get("variants") or []
    update = rec.state.get("update") or {}
    return sum(_count(v.get("desired_instance_count")) for v in [*variants, *(update.get("variants") or [])])


def job_instances(rec: Record) -> int:
    if rec.status not in RUNNING_JOB:
        return 0
    return _count((rec.spec.get("TransformResources") or {}).get("InstanceCount"))


class InstanceBudget:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def in_use(self) -> int:
        """Instances of every endpoint, deployment in flight and running transform job."""
        endpoints = sum(endpoint_instances(r) for r in self.store.all(ENDPOINT_KIND))
        return endpoints + sum(job_instances(r) for r in self.store.all(TRANSFORM_KIND))

    def check_variants(self, counts: Iterable[tuple[str, int]], before: Mapping[str, int] | None = None) -> None:
        """Each variant's instance count against the per-variant cap (counts that grow only)."""
        cap = self.settings.max_instances_per_variant
        for name, count in counts:
            old = (before or {}).get(name, 0)
            if count > cap and count > old:
                raise _exceeded(
                    "instances per production variant",
                    cap,
                    old,
                    count - old,
                    f" for production variant {name}",
                    "INFERPIPE_MAX_INSTANCES_PER_VARIANT",
                )

    def check_endpoint(
        self,
        endpoint: str,
        counts: Mapping[str, int],
        *,
        before: Mapping[str, int] | None = None,
        beside: bool,
    ) -> None:
        """An endpoint about to run ``counts`` instances per variant, having ``before`` now.

        ``beside``: the new instances start next to the current ones (CreateEndpoint, UpdateEndpoint's
        new fleet), rather than growing or shrinking them in place (UpdateEndpointWeightsAndCapacities).
        """
        before = before or {}
        self.check_variants(counts.items(), None if beside else before)
        new, old = sum(counts.values()), sum(before.values())
        cap = self.settings.max_instances_per_endpoint
        if new > cap and new > old:
            raise _exceeded(
                "instances per endpoint",
                cap,
                old,
                new - old,
                f" for endpoint {endpoint}",
                "INFERPIPE_MAX_INSTANCES_PER_ENDPOINT",
            )
        self.check_total(new if beside else new - old, f" for endpoint {endpoint}")

    def check_total(self, added: int, where: str) -> None:
        """``added`` more instances against the cap on all instances the daemon runs."""
        if added <= 0:
            return
        used, cap = self.in_use(), self.settings.max_instances
        if used + added > cap:
            raise _exceeded(
                "instances in total (endpoints, deployments in progress and transform jobs)",
                cap,
                used,
                added,
                where,
                "INFERPIPE_MAX_INSTANCES",
            )


def variant_counts(variants: Iterable[Mapping[str, Any]], key: str) -> dict[str, int]:
    """{VariantName: instance count} of a list of API variant dictionaries."""
    return {str(v["VariantName"]): _count(v.get(key) if v.get(key) is not None else 1) for v in variants}


def _exceeded(limit: str, cap: int, used: int, delta: int, where: str, setting: str) -> ResourceLimitExceeded:
    return ResourceLimitExceeded(
        f"The account-level service limit '{limit}' is {cap} Instances, with current utilization of {used}"
        f" Instances and a request delta of {delta} Instances{where}. Set {setting} for the inferpipe daemon"
        " to raise this limit."
    )
