"""The model registry end to end, on real containers: a group, two versions of a two-container
pipeline, approve one, `deploy` serves it, approve the other, `apply` rolls it out blue/green."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import yaml
from helpers import teardown, unique
from support import DaemonHandle

ALL_AT_ONCE = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
        "TerminationWaitInSeconds": 0,
    }
}


def pipeline(image: str, version: str) -> list[dict[str, Any]]:
    return [
        {"ContainerHostname": "prep", "Image": image, "Environment": {"ECHO_TAG": f"prep-{version}"}},
        {"ContainerHostname": "model", "Image": image, "Environment": {"ECHO_TAG": f"model-{version}"}},
    ]


class Invocations:
    """One client invoking the endpoint until the block ends, keeping every status and body."""

    def __init__(self, daemon: DaemonHandle, name: str) -> None:
        self.url = f"{daemon.url}/endpoints/{name}/invocations"
        self.auth = daemon.auth
        self.statuses: list[int] = []
        self.bodies: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=70, auth=self.auth) as client:
            while not self._stop.is_set():
                try:
                    r = client.post(self.url, content=b"x", headers={"Content-Type": "text/plain"})
                    self.statuses.append(r.status_code)
                    self.bodies.append(r.text)
                except httpx.HTTPError:
                    self.statuses.append(0)

    def __enter__(self) -> Invocations:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def answer(rt: Any, name: str) -> str:
    return rt.invoke_endpoint(EndpointName=name, Body=b"x", ContentType="text/plain")["Body"].read().decode()


def test_register_approve_deploy_then_apply_the_next_approved_version(
    sm: Any, rt: Any, daemon: DaemonHandle, echo_image: str, tmp_path: Any
) -> None:
    group = unique("registry")
    name = unique("served")
    sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="two-step pipeline")
    first, second = (
        sm.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={
                "Containers": pipeline(echo_image, version),
                "SupportedContentTypes": ["text/plain"],
                "SupportedResponseMIMETypes": ["text/plain"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
            },
        )["ModelPackageArn"]
        for version in ("v1", "v2")
    )
    try:
        # Nothing approved yet: deploy says so and how to approve, and starts nothing.
        refused = daemon.cli("deploy", "--model-package-group-name", group, "--endpoint-name", name)
        assert refused.returncode == 254
        assert b"no Approved version" in refused.stderr and b"update-model-package" in refused.stderr
        assert daemon.containers_of(name) == []

        daemon.cli(
            "update-model-package", "--model-package-arn", first, "--model-approval-status", "Approved", check=True
        )
        created = daemon.cli_json(
            "deploy", "--model-package-group-name", group, "--endpoint-name", name,
            "--deployment-config", yaml.safe_dump(ALL_AT_ONCE, default_flow_style=True),
        )  # fmt: skip
        assert created["Action"] == "created"
        assert answer(rt, name).startswith("x|prep-v1@") and "|model-v1@" in answer(rt, name)
        model = sm.describe_model(ModelName=created["ModelName"])
        assert [c["ModelPackageName"] for c in model["Containers"]] == [first, first]
        again = daemon.cli_json("deploy", "--model-package-group-name", group, "--endpoint-name", name)
        assert again["Action"] == "unchanged"  # still the newest Approved version

        # Approving v2 and applying a spec that names the group rolls v2 out blue/green.
        sm.update_model_package(ModelPackageArn=second, ModelApprovalStatus="Approved", ApprovalDescription="better")
        spec = {
            "model": {"ModelName": name, "ModelPackageGroupName": group},
            "endpointConfig": {
                "EndpointConfigName": name,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": name,
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                    }
                ],
            },
            "endpoint": {"EndpointName": name},
            "deployment": ALL_AT_ONCE,
        }
        path = tmp_path / "registry.yaml"
        path.write_text(yaml.safe_dump(spec))
        with Invocations(daemon, name) as load:
            updated = daemon.cli_json("apply", "-f", str(path))
        # Blue/green: every request during the rollout was answered, first by v1, at the end by v2.
        assert load.statuses and set(load.statuses) == {200}, load.statuses
        assert "|model-v1@" in load.bodies[0] and "|model-v2@" in load.bodies[-1]
        assert updated["Action"] == "updated"
        assert updated["EndpointConfigName"] != created["EndpointConfigName"]
        assert "|model-v2@" in answer(rt, name)
        endpoint = sm.describe_endpoint(EndpointName=name)
        assert endpoint["EndpointStatus"] == "InService"
        assert endpoint["EndpointConfigName"] == updated["EndpointConfigName"]
        model = sm.describe_model(ModelName=updated["ModelName"])
        assert {c["ModelPackageName"] for c in model["Containers"]} == {second}
        # The rollout was blue/green: the endpoint's event log has the deployment, the package's the approval.
        endpoint_events = [
            e["Event"] for e in daemon.cli_json("events", "--kind", "endpoint", "--name", name)["Events"]
        ]
        assert endpoint_events.count("UpdateSucceeded") == 1 and "UpdateRolledBack" not in endpoint_events
        approvals = daemon.cli_json("events", "--kind", "model-package", "--name", f"{group}/2")["Events"]
        assert [e["Detail"].get("to") for e in approvals if e["Event"] == "ApprovalChanged"] == ["Approved"]
    finally:
        teardown(sm, name)
