"""A model-data download in flight shows in DescribeEndpoint (as InferpipeProgress, which boto3
ignores) while the endpoint is Creating, and is gone once the download ends."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_host import EngineHost
from fake_runtime import FakeRuntime

from inferpipe.core.containers.downloads import DownloadBoard

IMAGE = "echo:1"
URI = "s3://models-1/big/model.tar.gz"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[EngineHost]:
    fake = FakeRuntime([IMAGE])
    h = EngineHost(tmp_path / "home", fake)
    yield h
    h.close()
    fake.close()


def test_describe_endpoint_shows_the_download_in_flight(host: EngineHost, tmp_path: Path) -> None:
    launcher = host.engine.endpoints.launcher
    cache = launcher.cache
    reported, release = threading.Event(), threading.Event()
    real = cache.materialize_container

    def slow_download(cont: Any, progress: Callable[[str, int, int], None] | None = None) -> Path:
        assert progress is not None
        progress(URI, 64 * 1024 * 1024, 256 * 1024 * 1024)
        reported.set()
        release.wait(10)
        progress(URI, 256 * 1024 * 1024, 256 * 1024 * 1024)
        return real(cont)  # the bytes themselves come from a local tarball

    tarball = tmp_path / "model.tar.gz"
    payload = io.BytesIO(b"w")
    with tarfile.open(tarball, "w:gz") as tar:
        info = tarfile.TarInfo("weights.bin")
        info.size = 1
        tar.addfile(info, payload)
    cache.materialize_container = slow_download  # type: ignore[method-assign]
    host.op("CreateModel", ModelName="m", Containers=[{"Image": IMAGE, "ModelDataUrl": f"file://{tarball}"}])
    host.op(
        "CreateEndpointConfig",
        EndpointConfigName="c",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1}],
    )
    host.op("CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    try:
        assert reported.wait(10)
        desc = host.op("DescribeEndpoint", EndpointName="e")
        assert desc["EndpointStatus"] == "Creating"
        assert desc["InferpipeProgress"] == {
            "ModelDataDownloads": [
                {
                    "Uri": URI,
                    "BytesDownloaded": 64 * 1024 * 1024,
                    "TotalBytes": 256 * 1024 * 1024,
                    "PercentComplete": 25.0,
                }
            ]
        }
    finally:
        release.set()
    host.wait_status("e", "InService")
    assert "InferpipeProgress" not in host.op("DescribeEndpoint", EndpointName="e")


def test_a_report_after_the_end_of_its_download_leaves_nothing_behind() -> None:
    board = DownloadBoard()
    ended = threading.Event()
    board.update("endpoint", "e", URI, 1, 4, ended)
    assert [d["BytesDownloaded"] for d in board.snapshot("endpoint", "e")] == [1]
    ended.set()
    board.finish("endpoint", "e")
    board.update("endpoint", "e", URI, 2, 4, ended)  # the thread of a cancelled waiter, still running
    assert board.snapshot("endpoint", "e") == []
    board.update("endpoint", "e", URI, 3, 4)
    assert board.snapshot("endpoint", "e")[0]["PercentComplete"] == 75.0
