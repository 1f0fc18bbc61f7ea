"""The capture writer and its records: SageMaker's line shape, encodings, hourly files rotated by
size, and a stalled destination that drops (and counts) records instead of blocking anyone."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import pytest

from inferpipe.core.capture.record import CaptureEvent, Encodings, capture_line, inference_time
from inferpipe.core.capture.sink import FileSink
from inferpipe.core.capture.spec import CaptureSpec, DestinationRefused, destination
from inferpipe.core.capture.writer import CaptureTarget, CaptureWriter, WriterLimits
from inferpipe.core.containers.hostpaths import HostPathPolicy

T = 1_700_000_000.123  # 2023-11-14T22:13:20.123Z
CSV = Encodings(csv=frozenset({"text/csv"}), json=frozenset({"application/json"}))


def event(i: int = 0, t: float = T, body: bytes = b"1,2,3", **kw: object) -> CaptureEvent:
    args: dict[str, object] = dict(
        endpoint="ep",
        variant="AllTraffic",
        input_body=body,
        input_type="text/csv",
        output_body=b'{"p": 0.5}',
        output_type="application/json",
        inference_id=f"inf-{i}",
        time=t,
    )
    args.update(kw)
    return CaptureEvent(**args)  # type: ignore[arg-type]


def lines(root: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(root.rglob("*.jsonl")) for line in f.read_text().splitlines()]


def test_line_has_sagemakers_shape() -> None:
    line = json.loads(capture_line(event(), CSV))
    assert line == {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3", "encoding": "CSV"},
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": '{"p": 0.5}',
                "encoding": "JSON",
            },
        },
        "eventMetadata": {
            "eventId": line["eventMetadata"]["eventId"],
            "inferenceId": "inf-0",
            "inferenceTime": "2023-11-14T22:13:20.123Z",
        },
        "eventVersion": "0",
    }
    assert inference_time(T) == "2023-11-14T22:13:20.123Z"


def test_types_not_named_are_base64_and_parameters_do_not_matter() -> None:
    raw = bytes(range(256))
    line = json.loads(capture_line(event(body=raw, input_type="application/x-image"), CSV))
    payload = line["captureData"]["endpointInput"]
    assert payload["encoding"] == "BASE64" and base64.b64decode(payload["data"]) == raw
    # with no CaptureContentTypeHeader every type is BASE64, as on SageMaker
    plain = json.loads(capture_line(event(), Encodings()))
    assert plain["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(plain["captureData"]["endpointInput"]["data"]) == b"1,2,3"
    with_charset = json.loads(capture_line(event(input_type="text/csv; charset=utf-8"), CSV))
    assert with_charset["captureData"]["endpointInput"]["encoding"] == "CSV"
    # declared CSV but not UTF-8: kept intact as BASE64 rather than mangled
    bad = json.loads(capture_line(event(body=b"\xff\xfe"), CSV))["captureData"]["endpointInput"]
    assert bad["encoding"] == "BASE64" and base64.b64decode(bad["data"]) == b"\xff\xfe"


def test_input_or_output_only_and_no_inference_id() -> None:
    line = json.loads(capture_line(event(output_body=None, inference_id=None), CSV))
    assert list(line["captureData"]) == ["endpointInput"]
    assert "inferenceId" not in line["eventMetadata"]


def test_files_by_endpoint_variant_and_hour_rotated_by_size(tmp_path: Path) -> None:
    writer = CaptureWriter(WriterLimits(max_file_bytes=1000, flush_seconds=0.05), clock=lambda: T)
    target = CaptureTarget(FileSink(tmp_path), CSV)
    for i in range(30):
        assert writer.offer(target, event(i))
    assert writer.offer(target, event(99, t=T + 3600))  # the next hour
    assert writer.offer(target, event(100, variant="B"))
    writer.close()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl"))
    hour1 = [f for f in files if f.startswith("ep/AllTraffic/2023/11/14/22/")]
    assert len(hour1) > 1, "rotated by size"
    assert all(f.split("/")[-1].startswith("13-20-123-") for f in hour1)
    assert [f for f in files if f.startswith("ep/AllTraffic/2023/11/14/23/")]
    assert [f for f in files if f.startswith("ep/B/2023/11/14/22/")]
    assert sorted(int(x["eventMetadata"]["inferenceId"][4:]) for x in lines(tmp_path)) == [*range(30), 99, 100]
    assert writer.written == 32 and writer.dropped == 0


class BlockedSink:
    """A destination that hangs until released, as a stalled disk or network mount does."""

    def __init__(self, inner: FileSink) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.entered = threading.Event()

    def append(self, key: str, data: bytes) -> None:
        self.entered.set()
        self.release.wait(30)
        self.inner.append(key, data)

    def finish(self, key: str) -> None:
        self.inner.finish(key)


def test_a_stalled_destination_drops_and_counts_but_never_blocks(tmp_path: Path) -> None:
    dropped: list[int] = []
    writer = CaptureWriter(
        WriterLimits(buffer_bytes=20 * 1024, flush_seconds=0.01),
        on_dropped=lambda e, v, n: dropped.append(n),
    )
    sink = BlockedSink(FileSink(tmp_path))
    target = CaptureTarget(sink, CSV)
    assert writer.offer(target, event(0))
    assert sink.entered.wait(10)  # the writer thread is now stuck in the destination
    started = time.perf_counter()
    accepted = [writer.offer(target, event(i, body=b"x" * 1000)) for i in range(1, 1001)]
    elapsed = time.perf_counter() - started
    assert elapsed < 5, "offering must never wait for the destination"
    kept = sum(accepted)
    assert 0 < kept < 1000, "bounded: some were queued, the rest dropped"
    assert writer.dropped == 1000 - kept == sum(dropped)
    assert writer.waiting_bytes <= 20 * 1024
    sink.release.set()
    writer.close()
    assert len(lines(tmp_path)) == kept + 1, "what was queued is written once the destination recovers"


def test_a_failing_destination_counts_its_records_as_dropped(tmp_path: Path) -> None:
    (tmp_path / "ep").write_text("a file where a directory should be")
    writer = CaptureWriter(WriterLimits(flush_seconds=0.01))
    target = CaptureTarget(FileSink(tmp_path), CSV)
    for i in range(5):
        writer.offer(target, event(i))
    writer.close()
    assert writer.dropped == 5 and writer.written == 0


def test_spec_from_config(tmp_path: Path) -> None:
    policy = HostPathPolicy(None, (Path("/etc"),))
    config = {
        "DataCaptureConfig": {
            "InitialSamplingPercentage": 30,
            "DestinationS3Uri": f"file://{tmp_path}/cap",
            "CaptureOptions": [{"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["Text/CSV"]},
        }
    }
    spec = CaptureSpec.from_config(config, policy)
    assert spec is not None
    assert spec.destination == tmp_path / "cap" and spec.sampling_percentage == 30
    assert (spec.capture_input, spec.capture_output) == (False, True)
    assert spec.encodings.of("text/csv") == "CSV"
    config["DataCaptureConfig"]["EnableCapture"] = False
    assert CaptureSpec.from_config(config, policy) is None
    assert CaptureSpec.from_config({}, policy) is None


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("s3://Bad_Bucket/cap", "valid bucket"),
        ("gs://bucket/cap", "give an s3:// URI"),
        ("file://relative/cap", "absolute path"),
        ("/etc/cap", "never reads or writes"),
    ],
)
def test_destination_refused(uri: str, says: str) -> None:
    with pytest.raises(DestinationRefused, match=says):
        destination(uri, "DataCaptureConfig.DestinationS3Uri", HostPathPolicy(None, (Path("/etc"),)))


def test_capture_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from inferpipe.core.config import ConfigError, Settings

    monkeypatch.setenv("INFERPIPE_HOME", str(tmp_path))
    s = Settings.from_env()
    assert (s.capture_buffer_bytes, s.capture_max_file_bytes, s.capture_flush_seconds) == (64 << 20, 64 << 20, 1.0)
    monkeypatch.setenv("INFERPIPE_CAPTURE_BUFFER_BYTES", "8k")
    monkeypatch.setenv("INFERPIPE_CAPTURE_MAX_FILE_BYTES", "1m")
    monkeypatch.setenv("INFERPIPE_CAPTURE_FLUSH_SECONDS", "0.5")
    s = Settings.from_env()
    assert (s.capture_buffer_bytes, s.capture_max_file_bytes, s.capture_flush_seconds) == (8192, 1 << 20, 0.5)
    monkeypatch.setenv("INFERPIPE_CAPTURE_BUFFER_BYTES", "lots")
    with pytest.raises(ConfigError, match="INFERPIPE_CAPTURE_BUFFER_BYTES"):
        Settings.from_env()
