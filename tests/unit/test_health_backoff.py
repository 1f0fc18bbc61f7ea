"""An instance's start-up health check: the first pings come soon after the start and back off to
the ping interval, and the engine is asked about a container only when it did not answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fake_runtime import FakeRuntime

from inferpipe.core.containers import fleet as fleet_module
from inferpipe.core.containers.fleet import FleetLauncher, FleetStartError
from inferpipe.core.containers.modeldata import ModelCache
from inferpipe.core.spec import ModelSpec, VariantSpec
from inferpipe.core.timing import Timing

IMAGE = "echo:1"


def model(n: int) -> ModelSpec:
    return ModelSpec.from_api(
        {"ModelName": "m", "Containers": [{"Image": IMAGE, "Environment": {"PING_STATUS": "503"}}] * n}
    )


def start(rt: FakeRuntime, launcher: FleetLauncher, n: int) -> tuple[Any, Any]:
    async def go() -> tuple[Any, Any]:
        variant = VariantSpec("v", model(n), 1, 1.0, "ml.m5.large")
        fl = await launcher.prepare("Endpoint", "e", variant, 1)
        handle = await asyncio.to_thread(
            rt.start_instance, "Endpoint", "e", "v", 1, 1, fl.model, fl.model_dirs, {}, fl.images
        )
        return fl, handle

    return asyncio.run(go())


@pytest.fixture
def rt() -> Any:
    runtime = FakeRuntime(images=[IMAGE])
    yield runtime
    runtime.close()


def test_pings_start_fast_then_back_off_to_the_interval(
    rt: FakeRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher = FleetLauncher(rt, ModelCache(tmp_path), timing=Timing(ping_interval=0.1))
    fl, handle = start(rt, launcher, 2)
    conts = [rt.containers[c.container_id] for c in handle.containers]
    statuses: list[str] = []
    real_status = rt.status
    monkeypatch.setattr(rt, "status", lambda cid: statuses.append(cid) or real_status(cid))
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 3:
            conts[0].env["PING_STATUS"] = "200"  # container 1 is up after the third pause
        if len(delays) == 6:
            conts[1].env["PING_STATUS"] = "200"
        await real_sleep(0)

    monkeypatch.setattr(fleet_module.asyncio, "sleep", sleep)

    async def wait() -> None:
        await launcher.wait_healthy(fl, handle)
        await launcher.close()

    asyncio.run(wait())
    assert delays == [0.01, 0.02, 0.04, 0.08, 0.1, 0.1]
    # 7 rounds of pings: both unanswered for 3, then only container 2 for 3 more, then none
    assert statuses.count(conts[0].container_id) == 3
    assert statuses.count(conts[1].container_id) == 6
    assert conts[0].pings == 4 and conts[1].pings == 7


def test_a_container_that_exited_fails_the_start_with_its_code(rt: FakeRuntime, tmp_path: Path) -> None:
    launcher = FleetLauncher(rt, ModelCache(tmp_path), timing=Timing(ping_interval=0.01))
    fl, handle = start(rt, launcher, 1)
    rt.kill(handle.containers[0].container_id, exit_code=3)

    async def wait() -> None:
        try:
            await launcher.wait_healthy(fl, handle)
        finally:
            await launcher.close()

    with pytest.raises(FleetStartError, match="exited during start-up with code 3"):
        asyncio.run(wait())
