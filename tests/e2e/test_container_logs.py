"""`inferpipe logs` on real containers: CloudWatch's stream names, --follow, --since,
--filter-pattern, the kept logs of removed containers, and transform jobs' names."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from helpers import deploy, echo_containers, teardown, unique
from support import DaemonHandle

STREAM = re.compile(r"AllTraffic/g\d+-i\d+/container-[12]")


def _follow(daemon: DaemonHandle, *args: str) -> tuple[subprocess.Popen[bytes], queue.Queue[dict[str, Any]]]:
    exe = Path(sys.executable).parent / "inferpipe"
    proc = subprocess.Popen(
        [str(exe), "--output", "json", "logs", *args, "--follow"], env=daemon.env, stdout=subprocess.PIPE
    )
    lines: queue.Queue[dict[str, Any]] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(json.loads(raw))

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _until(lines: queue.Queue[dict[str, Any]], match: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no log line with {match!r}"
        event = lines.get(timeout=left)
        if match in event["Message"]:
            return event


def test_follow_since_filter_and_kept_logs(sm, rt, echo_image, daemon):  # noqa: ANN001
    name = unique("logs")
    deploy(sm, name, echo_containers(echo_image, 2))
    try:
        proc, lines = _follow(daemon, "--endpoint-name", name, "--container-hostname", "container-2")
        try:
            first = _until(lines, "serving on")  # written before logs started
            assert first["LogGroupName"] == f"/aws/sagemaker/Endpoints/{name}"
            assert STREAM.fullmatch(first["LogStreamName"]) and first["LogStreamName"].endswith("/container-2")
            started = time.time()
            rt.invoke_endpoint(EndpointName=name, Body=b"after-follow-started")
            later = _until(lines, "POST /invocations")
            assert later["Timestamp"] >= started - 1 and later["LogStreamName"] == first["LogStreamName"]
        finally:
            proc.terminate()
            proc.wait(10)

        def read(*args: str) -> dict[str, Any]:
            return daemon.cli_json("logs", "--endpoint-name", name, *args)

        everything = read()
        names = sorted(s["LogStreamName"] for s in everything["Streams"])
        assert (
            len(names) == 2
            and all(STREAM.fullmatch(n) for n in names)
            and all(s["Live"] for s in everything["Streams"])
        )
        posts = read("--filter-pattern", "POST -ping")["Streams"]
        assert all("POST" in e["Message"] for s in posts for e in s["Events"])
        assert sum(len(s["Events"]) for s in posts) == 2  # one request, two containers
        pings = read("--filter-pattern", "?nothing-like-this ?/ping")["Streams"]
        assert all("/ping" in e["Message"] for s in pings for e in s["Events"]) and any(s["Events"] for s in pings)
        future = read("--since", str(time.time() + 3600))["Streams"]
        assert all(not s["Events"] for s in future)
        instance = names[0].split("/")[1]
        one = read("--instance-id", instance, "--container-hostname", "container-1")["Streams"]
        assert [s["LogStreamName"] for s in one] == [f"AllTraffic/{instance}/container-1"]
    finally:
        teardown(sm, name)
    # the containers are gone, their logs stay readable
    kept = daemon.cli_json("logs", "--endpoint-name", name, "--filter-pattern", "POST")
    assert sorted(s["LogStreamName"] for s in kept["Streams"]) == names
    assert all(not s["Live"] and len(s["Events"]) == 1 for s in kept["Streams"])
    unknown = daemon.cli("logs", "--endpoint-name", unique("never"))
    assert unknown.returncode == 254 and b"no logs of it are kept" in unknown.stderr


def test_transform_job_logs_carry_aws_names(sm, echo_image, daemon, tmp_path):  # noqa: ANN001
    model = unique("logs-tx")
    sm.create_model(ModelName=model, Containers=echo_containers(echo_image, 2))
    src = tmp_path / "in" / "rows.csv"
    src.parent.mkdir()
    src.write_text("a\nb\n")
    job = unique("logs-job")
    sm.create_transform_job(
        TransformJobName=job,
        ModelName=model,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(src.parent)}}},
        TransformOutput={"S3OutputPath": f"file://{tmp_path / 'out'}"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    deadline = time.monotonic() + 120
    while sm.describe_transform_job(TransformJobName=job)["TransformJobStatus"] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert sm.describe_transform_job(TransformJobName=job)["TransformJobStatus"] == "Completed"
    data = daemon.cli_json("logs", "--transform-job-name", job, "--filter-pattern", "POST")
    assert data["LogGroupName"] == "/aws/sagemaker/TransformJobs"
    pattern = re.compile(rf"{re.escape(job)}/g\d+-i\d+-\d{{10}}/container-[12]")
    assert len(data["Streams"]) == 2
    for stream in data["Streams"]:
        assert pattern.fullmatch(stream["LogStreamName"]), stream["LogStreamName"]
        assert stream["Events"] and not stream["Live"]
