"""The writer over a sink that stores a file only when it is finished (an object store): records
count as written once their file's upload succeeds, as dropped when it fails, files are finished
after the target's age limit; and the manifests of a transform job's data on S3."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from inferpipe.core.capture.manifest import manifest_of, s3_manifest
from inferpipe.core.capture.record import CaptureEvent
from inferpipe.core.capture.s3sink import object_uri
from inferpipe.core.capture.spec import CaptureSpec
from inferpipe.core.capture.writer import CaptureTarget, CaptureWriter, WriterLimits
from inferpipe.core.containers.hostpaths import HostPathPolicy, PathRefused
from inferpipe.core.s3.uri import S3Uri


class UploadingSink:
    """Files held until finished, then 'uploaded' (kept in `stored`) or refused."""

    deferred = True

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.open: dict[str, bytes] = {}
        self.stored: dict[str, bytes] = {}

    def append(self, key: str, data: bytes) -> None:
        self.open[key] = self.open.get(key, b"") + data

    def finish(self, key: str) -> None:
        data = self.open.pop(key)
        if self.fail:
            raise OSError("AccessDenied")
        self.stored[key] = data


def event(i: int) -> CaptureEvent:
    return CaptureEvent("ep", "AllTraffic", b"1,2", "text/csv", b"3", "text/csv", f"inf-{i}")


def wait(check, timeout: float = 5) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_records_count_once_their_file_is_stored() -> None:
    counted: list[tuple[str, int]] = []
    writer = CaptureWriter(
        WriterLimits(flush_seconds=0.01),
        on_written=lambda e, v, n: counted.append(("written", n)),
        on_dropped=lambda e, v, n: counted.append(("dropped", n)),
    )
    sink = UploadingSink()
    target = CaptureTarget(sink, max_file_seconds=0.3)
    for i in range(3):
        writer.offer(target, event(i))
    wait(lambda: sink.open)
    assert writer.written == 0 and not sink.stored, "nothing is stored before the file is finished"
    wait(lambda: sink.stored)  # finished by age, without the daemon stopping
    assert writer.written == 3 and counted == [("written", 3)]
    [(key, data)] = sink.stored.items()
    assert key.startswith("ep/AllTraffic/") and len(data.splitlines()) == 3
    writer.offer(target, event(4))
    writer.close()
    assert writer.written == 4 and len(sink.stored) == 2


def test_a_failed_upload_counts_its_records_as_dropped() -> None:
    writer = CaptureWriter(WriterLimits(flush_seconds=0.01))
    target = CaptureTarget(UploadingSink(fail=True))
    for i in range(5):
        assert writer.offer(target, event(i))
    writer.close()
    assert (writer.written, writer.dropped) == (0, 5)


def test_object_keys_below_the_prefix() -> None:
    key = "ep/AllTraffic/2026/12/03/17/01-02-003-x.jsonl"
    assert str(object_uri(S3Uri("b", "capture"), key)) == f"s3://b/capture/{key}"
    assert str(object_uri(S3Uri("b", "capture/"), key)) == f"s3://b/capture/{key}"
    assert str(object_uri(S3Uri("b", ""), key)) == f"s3://b/{key}"
    with pytest.raises(PathRefused):
        object_uri(S3Uri("b", "capture"), "../x.jsonl")


def test_spec_with_an_s3_destination() -> None:
    config = {"DataCaptureConfig": {"InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://bucket/cap/"}}
    spec = CaptureSpec.from_config(config, HostPathPolicy(None, ()))
    assert spec is not None and spec.destination == S3Uri("bucket", "cap/")


def test_s3_manifest_lists_uris_exactly() -> None:
    objects = [S3Uri("b", "in/a.csv"), S3Uri("b", "in/sub/b.csv"), S3Uri("b", "in//c.csv")]
    doc = json.loads(s3_manifest(objects))
    assert doc == [{"prefix": "s3://b/in/"}, "a.csv", "sub/b.csv", "/c.csv"]
    assert [doc[0]["prefix"] + k for k in doc[1:]] == [str(o) for o in objects]
    at_root = json.loads(s3_manifest([S3Uri("b", "x.csv"), S3Uri("b", "d/y.csv")]))
    assert at_root == [{"prefix": "s3://b/"}, "x.csv", "d/y.csv"]
    with pytest.raises(ValueError, match="one bucket"):
        s3_manifest([S3Uri("a", "x"), S3Uri("b", "x")])
    with pytest.raises(ValueError, match="not both"):
        manifest_of([S3Uri("b", "x"), Path("/tmp/x")])


def test_local_manifest_unchanged(tmp_path: Path) -> None:
    doc = json.loads(manifest_of([tmp_path / "a.csv", tmp_path / "s" / "b.csv"]))
    assert doc == [{"prefix": f"file://{tmp_path}/"}, "a.csv", "s/b.csv"]


def test_s3_file_seconds_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from inferpipe.core.config import ConfigError, Settings

    monkeypatch.setenv("INFERPIPE_HOME", str(tmp_path))
    assert Settings.from_env().capture_s3_file_seconds == 60.0
    monkeypatch.setenv("INFERPIPE_CAPTURE_S3_FILE_SECONDS", "5")
    assert Settings.from_env().capture_s3_file_seconds == 5.0
    monkeypatch.setenv("INFERPIPE_CAPTURE_S3_FILE_SECONDS", "soon")
    with pytest.raises(ConfigError, match="INFERPIPE_CAPTURE_S3_FILE_SECONDS"):
        Settings.from_env()
