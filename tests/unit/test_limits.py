"""What counts against the instance caps, read from a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferpipe.core.config import Settings
from inferpipe.core.errors import ResourceLimitExceeded
from inferpipe.core.limits import InstanceBudget
from inferpipe.core.store import Store


def variants(*counts: int) -> list[dict[str, object]]:
    return [{"name": f"v{i}", "desired_instance_count": n} for i, n in enumerate(counts)]


@pytest.fixture
def budget(tmp_path: Path) -> InstanceBudget:
    store = Store(tmp_path / "state.db")
    settings = Settings(home=tmp_path, max_instances_per_variant=4, max_instances_per_endpoint=6, max_instances=12)
    return InstanceBudget(settings, store)


def add_endpoint(budget: InstanceBudget, name: str, status: str, state: dict[str, object]) -> None:
    budget.store.insert("endpoint", name, f"arn:{name}", {}, status=status, state=state)


def add_job(budget: InstanceBudget, name: str, status: str, count: int) -> None:
    spec = {"TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": count}}
    budget.store.insert("transform-job", name, f"arn:{name}", spec, status=status)


def test_endpoints_updates_in_flight_and_running_jobs_count_failed_and_finished_do_not(
    budget: InstanceBudget,
) -> None:
    add_endpoint(budget, "serving", "InService", {"variants": variants(2, 1)})
    add_endpoint(budget, "updating", "Updating", {"variants": variants(2), "update": {"variants": variants(3)}})
    add_endpoint(budget, "creating", "Creating", {"variants": variants(1)})
    add_endpoint(budget, "deleting", "Deleting", {"variants": variants(1)})  # its containers are still there
    add_endpoint(budget, "broken", "Failed", {"variants": variants(4)})
    add_job(budget, "running", "InProgress", 2)
    add_job(budget, "stopping", "Stopping", 1)
    add_job(budget, "done", "Completed", 4)
    assert budget.in_use() == 3 + 5 + 1 + 1 + 2 + 1


def test_the_total_cap_counts_what_runs(budget: InstanceBudget) -> None:
    add_endpoint(budget, "serving", "InService", {"variants": variants(4, 4)})
    add_job(budget, "running", "InProgress", 2)
    budget.check_total(2, " for transform job next")  # 10 + 2 = 12: at the cap, allowed
    with pytest.raises(ResourceLimitExceeded, match="current utilization of 10 Instances and a request delta of 3"):
        budget.check_total(3, " for transform job next")


def test_an_update_counts_the_new_fleet_beside_the_old_one(budget: InstanceBudget) -> None:
    add_endpoint(budget, "serving", "InService", {"variants": variants(4, 2)})
    add_endpoint(budget, "other", "InService", {"variants": variants(1)})
    budget.check_endpoint("serving", {"v0": 4, "v1": 1}, before={"v0": 4, "v1": 2}, beside=True)  # 7 + 5 = 12
    with pytest.raises(ResourceLimitExceeded, match="'instances in total .*' is 12 Instances"):
        budget.check_endpoint("serving", {"v0": 4, "v1": 2}, before={"v0": 4, "v1": 2}, beside=True)


def test_scaling_counts_only_the_difference_and_shrinking_is_never_refused(budget: InstanceBudget) -> None:
    add_endpoint(budget, "serving", "InService", {"variants": variants(4, 2)})
    add_endpoint(budget, "other", "InService", {"variants": variants(4, 2)})
    with pytest.raises(
        ResourceLimitExceeded,
        match="'instances per endpoint' is 6 Instances, with current utilization"
        " of 6 Instances and a request delta of 1 Instances for endpoint serving",
    ):
        budget.check_endpoint("serving", {"v0": 4, "v1": 3}, before={"v0": 4, "v1": 2}, beside=False)
    # caps lowered below what already runs: staying or shrinking is still allowed
    budget.settings = Settings(
        home=budget.settings.home, max_instances_per_variant=2, max_instances_per_endpoint=3, max_instances=4
    )
    budget.check_endpoint("serving", {"v0": 3, "v1": 2}, before={"v0": 4, "v1": 2}, beside=False)
    with pytest.raises(
        ResourceLimitExceeded,
        match="'instances per production variant' is 2 Instances, with current"
        " utilization of 2 Instances and a request delta of 1 Instances for production variant v1",
    ):
        budget.check_endpoint("serving", {"v0": 3, "v1": 3}, before={"v0": 4, "v1": 2}, beside=False)
