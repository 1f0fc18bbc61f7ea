"""A model-data download's progress, heard in a worker thread, lands in the event log on the loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from fake_runtime import FakeRuntime

from inferpipe.core.containers.fleet import FleetLauncher
from inferpipe.core.containers.modeldata import ModelCache


def test_progress_becomes_events_recorded_on_the_loop(tmp_path: Path) -> None:
    launcher = FleetLauncher(FakeRuntime(), ModelCache(tmp_path))
    recorded: list[tuple[Any, ...]] = []

    def record(*args: Any) -> None:
        recorded.append((threading.current_thread().name, *args))

    async def scenario() -> None:
        assert launcher._download_events("Endpoint", "e") is None  # no event log wired: nothing to do
        launcher.record_event = record
        progress = launcher._download_events("Endpoint", "e")
        assert progress is not None
        await asyncio.to_thread(progress, "s3://b-1/m.tar.gz", 64, 128)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert recorded == [
        (
            threading.main_thread().name,
            "Endpoint",
            "e",
            "ModelDataDownload",
            {"uri": "s3://b-1/m.tar.gz", "bytes": 64, "total": 128},
        )
    ]
