"""Data capture on the real serving path (the production wiring over the fake runtime): with the
capture destination stalled, every request still answers, and what cannot wait is dropped and
counted; once the destination recovers, what was kept is written."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_host import EngineHost
from fake_runtime import FakeRuntime

from inferpipe.core.capture.sink import FileSink
from inferpipe.core.capture.writer import WriterLimits
from inferpipe.core.serving import capture as serving_capture

IMAGE = "echo:1"


class StalledSink(FileSink):
    """A destination whose writes hang until released, like a hung network mount."""

    release = threading.Event()
    entered = threading.Event()

    def append(self, key: str, data: bytes) -> None:
        StalledSink.entered.set()
        StalledSink.release.wait(30)
        super().append(key, data)


@pytest.fixture
def plain_host(tmp_path: Path) -> Iterator[EngineHost]:
    fake = FakeRuntime([IMAGE])
    h = EngineHost(tmp_path / "home", fake)
    yield h
    h.close()
    fake.close()


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineHost]:
    monkeypatch.setattr(serving_capture, "FileSink", StalledSink)
    StalledSink.release.clear()
    StalledSink.entered.clear()
    fake = FakeRuntime([IMAGE])
    h = EngineHost(tmp_path / "home", fake)
    yield h
    StalledSink.release.set()
    h.close()
    fake.close()


def capture_config(host: EngineHost, name: str, dest: Path, **extra: Any) -> None:
    host.op(
        "CreateEndpointConfig",
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1}],
        DataCaptureConfig={
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"file://{dest}",
            "CaptureOptions": [{"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/plain"]},
            **extra,
        },
    )


def outputs(dest: Path) -> list[str]:
    return [
        json.loads(x)["captureData"]["endpointOutput"]["data"]
        for f in dest.rglob("*.jsonl")
        for x in f.read_text().splitlines()
    ]


def test_during_a_blue_green_shift_each_request_is_captured_by_its_fleets_config(
    plain_host: EngineHost, tmp_path: Path
) -> None:
    host = plain_host
    writer = host.engine.router.capture.writer  # type: ignore[union-attr]
    writer.limits = WriterLimits(flush_seconds=0.01)
    blue, green = tmp_path / "blue", tmp_path / "green"
    host.op("CreateModel", ModelName="m", Containers=[{"Image": IMAGE}])
    capture_config(host, "c-blue", blue)
    capture_config(host, "c-green", green)
    host.op("CreateEndpoint", EndpointName="e", EndpointConfigName="c-blue")
    host.wait_status("e", "InService")
    policy = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 60,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            }
        }
    }
    host.op("UpdateEndpoint", EndpointName="e", EndpointConfigName="c-green", DeploymentConfig=policy)
    host.wait_phase("e", "Baking", "1/2")
    answers = [host.invoke("e", f"r{i}".encode()) for i in range(60)]
    assert {"/g1-" in a for a in answers} == {True, False}, "both fleets serve during the canary"
    host.clock.advance(60)
    host.wait_phase("e", "Baking", "2/2")
    host.clock.advance(60)
    host.wait_status("e", "InService")
    after = [host.invoke("e", f"after{i}".encode()) for i in range(5)]
    deadline = time.monotonic() + 10
    while writer.written < 65 and time.monotonic() < deadline:
        time.sleep(0.02)
    on_blue, on_green = outputs(blue), outputs(green)
    assert sorted(on_blue + on_green) == sorted(answers + after)
    assert on_blue and all("/g1-" in a for a in on_blue)
    assert all("/g2-" in a for a in on_green) and set(after) <= set(on_green)


def test_requests_answer_while_the_capture_destination_is_stalled(host: EngineHost, tmp_path: Path) -> None:
    writer = host.engine.router.capture.writer  # type: ignore[union-attr]
    writer.limits = WriterLimits(buffer_bytes=16 * 1024, flush_seconds=0.01)
    dest = tmp_path / "capture"
    host.op("CreateModel", ModelName="m", Containers=[{"Image": IMAGE}, {"Image": IMAGE}])
    host.op(
        "CreateEndpointConfig",
        EndpointConfigName="c",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1}],
        DataCaptureConfig={
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"file://{dest}",
            "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
        },
    )
    host.op("CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    host.wait_status("e", "InService")

    host.invoke("e", b"first")
    assert StalledSink.entered.wait(10), "the writer reached the destination and hangs there"
    answers = [host.invoke("e", f"r{i}-".encode() + b"x" * 500) for i in range(300)]
    assert all(a.startswith(f"r{i}-") for i, a in enumerate(answers))

    dropped = writer.dropped
    assert 0 < dropped < 300, "the memory bound kept some and dropped the rest"
    assert writer.waiting_bytes <= 16 * 1024
    metrics = {m["MetricName"]: m for m in host.op("Inferpipe.EndpointMetrics", EndpointName="e")["Metrics"]}
    assert metrics["CaptureDroppedRecords"]["Sum"] == dropped
    assert metrics["Invocations"]["Sum"] == 301

    StalledSink.release.set()
    deadline = time.monotonic() + 10
    while writer.written < 301 - dropped and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = [json.loads(x) for f in dest.rglob("*.jsonl") for x in f.read_text().splitlines()]
    assert len(lines) == 301 - dropped == writer.written
