"""Small builders for e2e tests: models of echo containers, endpoints, direct container access."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from support import raw_response, wait_endpoint, wait_gone


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def echo_containers(
    image: str, n: int, env: dict[int, dict[str, str]] | None = None, hostnames: list[str] | None = None
) -> list[dict[str, Any]]:
    out = []
    for i in range(1, n + 1):
        c: dict[str, Any] = {"Image": image}
        if hostnames:
            c["ContainerHostname"] = hostnames[i - 1]
        if env and i in env:
            c["Environment"] = env[i]
        out.append(c)
    return out


def deploy(
    sm: Any,
    name: str,
    containers: list[dict[str, Any]],
    *,
    instances: int = 1,
    variants: list[dict[str, Any]] | None = None,
    mode: str | None = None,
    wait: str | None = "InService",
) -> dict[str, Any] | None:
    model: dict[str, Any] = {"ModelName": name, "Containers": containers}
    if mode:
        model["InferenceExecutionConfig"] = {"Mode": mode}
    sm.create_model(**model)
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=variants
        or [
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": instances,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    if wait:
        return wait_endpoint(sm, name, wait, timeout=120)
    return None


def teardown(sm: Any, name: str) -> None:
    try:
        sm.delete_endpoint(EndpointName=name)
        wait_gone(sm, name)
    except sm.exceptions.ClientError:
        pass


def container_ports(sm: Any, name: str) -> dict[str, list[int]]:
    """hostname -> published 127.0.0.1 ports (one per instance), from the extra Describe field."""
    desc = raw_response(sm, "DescribeEndpoint", EndpointName=name)
    ports: dict[str, list[int]] = {}
    for inst in desc["InferpipeInstances"]:
        for c in inst["Containers"]:
            ports.setdefault(c["ContainerHostname"], []).append(c["HostPort"])
    return ports


def stats(port: int) -> dict[str, Any]:
    return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()
