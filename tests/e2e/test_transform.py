"""Batch transform on the real engine: CreateTransformJob through echo chains (order, concurrency,
DataProcessing, gzip, several instances, failures, stop, memory, restart), the CLI, and the wine
sample's batch predictions against its real-time ones."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest
import yaml
from helpers import stats, teardown, unique
from support import REPO, DaemonHandle, cleanup, make_daemon, wait_endpoint

WINE = REPO / "sample-pipelines" / "wine"
TIMEOUT = 120


# helpers --------------------------------------------------------------------------------------------
def create_job(
    sm: Any,
    name: str,
    model: str,
    source: Path | str,
    output: Path,
    *,
    content_type: str | None = "text/csv",
    split: str = "Line",
    accept: str | None = None,
    assemble: str | None = None,
    dp: dict[str, str] | None = None,
    instances: int = 1,
    data_type: str = "S3Prefix",
    compression: str | None = None,
    **extra: Any,
) -> None:
    tin: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": str(source)}},
        "SplitType": split,
    }
    if content_type:
        tin["ContentType"] = content_type
    if compression:
        tin["CompressionType"] = compression
    tout: dict[str, Any] = {"S3OutputPath": f"file://{output}"}
    if accept:
        tout["Accept"] = accept
    if assemble:
        tout["AssembleWith"] = assemble
    kwargs: dict[str, Any] = dict(
        TransformJobName=name,
        ModelName=model,
        TransformInput=tin,
        TransformOutput=tout,
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": instances},
        **extra,
    )
    if dp:
        kwargs["DataProcessing"] = dp
    sm.create_transform_job(**kwargs)


def raw_describe(daemon: DaemonHandle, name: str) -> dict[str, Any]:
    """DescribeTransformJob with the inferpipe-only members boto3 drops (progress, instances)."""
    resp = httpx.post(
        daemon.url,
        json={"TransformJobName": name},
        headers={"X-Amz-Target": "SageMaker.DescribeTransformJob", "Content-Type": "application/x-amz-json-1.1"},
        timeout=10,
        auth=daemon.auth,
    )
    return resp.json()


def finished(daemon: DaemonHandle, name: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = raw_describe(daemon, name)
        if desc["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc
        assert time.monotonic() < deadline, f"{name} still {desc['TransformJobStatus']}"
        time.sleep(0.25)


def completed(daemon: DaemonHandle, name: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    desc = finished(daemon, name, timeout)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    return desc


def partials(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if p.name.endswith(".partial")] if out.exists() else []


def echo_model(sm: Any, image: str, *, raw: bool, env1: dict[str, str] | None = None) -> str:
    name = unique("tx-raw" if raw else "tx-tag")
    base = {"ECHO_RAW": "1"} if raw else {}
    sm.create_model(
        ModelName=name,
        Containers=[
            {"Image": image, "Environment": {**base, **(env1 or {})}},
            {"Image": image, "Environment": dict(base)},
        ],
    )
    return name


@pytest.fixture(scope="module")
def raw_model(sm: Any, echo_image: str) -> str:
    """Two echo containers (container-1, container-2) answering every body unchanged."""
    return echo_model(sm, echo_image, raw=True)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


# echo chains -----------------------------------------------------------------------------------------
def test_output_equals_input_in_order_whatever_the_concurrency(
    sm: Any, daemon: DaemonHandle, raw_model: str, work: Path
) -> None:
    """CSV Line through SingleRecord and MultiRecord, 1 and 4 requests in flight, with slow records
    (SLEEP) so completions come out of order; JSON Lines; gzip input. All jobs run at once."""
    small = work / "small" / "rows.csv"
    small.parent.mkdir()
    small.write_text("".join(f"row-{i},{'v' * (i % 17)}{' SLEEP:250' if i < 4 else ''}\n" for i in range(120)))
    big = work / "big" / "rows.csv"  # > 1 MB: several MultiRecord batches of MaxPayloadInMB 1
    big.parent.mkdir()
    with big.open("w") as fh:
        for i in range(30000):
            fh.write(f"row-{i},{'w' * (40 + i % 50)}{' SLEEP:400' if i == 0 else ''}\n")
    jsonl = work / "jsonl" / "docs.jsonl"
    jsonl.parent.mkdir()
    jsonl.write_text(
        "".join(json.dumps({"id": i, "text": "x" * (i % 30), "n": [i, i * 1.5]}) + "\n" for i in range(800))
    )
    gz = work / "gz" / "rows.csv.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(small.read_bytes()))

    jobs = {
        "single-1": dict(source=small, BatchStrategy="SingleRecord", MaxConcurrentTransforms=1),
        "single-4": dict(source=small, BatchStrategy="SingleRecord", MaxConcurrentTransforms=4),
        "multi-1": dict(source=big, BatchStrategy="MultiRecord", MaxConcurrentTransforms=1, MaxPayloadInMB=1),
        "multi-4": dict(source=big, BatchStrategy="MultiRecord", MaxConcurrentTransforms=4, MaxPayloadInMB=1),
        "jsonl": dict(
            source=jsonl,
            content_type="application/jsonlines",
            BatchStrategy="MultiRecord",
            MaxConcurrentTransforms=2,
            MaxPayloadInMB=1,
            assemble="Line",
        ),
        "gzip": dict(source=gz.parent, compression="Gzip", BatchStrategy="MultiRecord"),
    }
    names = {key: unique(f"tx-{key}") for key in jobs}
    for key, params in jobs.items():
        params = dict(params)
        create_job(sm, names[key], raw_model, params.pop("source"), work / "out" / key, **params)
    descs = {key: completed(daemon, names[key]) for key in jobs}

    assert (work / "out" / "single-1" / "rows.csv.out").read_bytes() == small.read_bytes()
    assert (work / "out" / "single-4" / "rows.csv.out").read_bytes() == small.read_bytes()
    assert (work / "out" / "multi-1" / "rows.csv.out").read_bytes() == big.read_bytes()
    assert (work / "out" / "multi-4" / "rows.csv.out").read_bytes() == big.read_bytes()
    assert (work / "out" / "jsonl" / "docs.jsonl.out").read_bytes() == jsonl.read_bytes()
    assert (work / "out" / "gzip" / "rows.csv.gz.out").read_bytes() == small.read_bytes()
    assert not partials(work / "out")

    # 4 slow records, each 2 x 250 ms (both containers sleep): in sequence >= 2 s, 4 at a time ~0.5 s
    slow_1 = descs["single-1"]["InferpipeProgress"]["ElapsedSeconds"]
    slow_4 = descs["single-4"]["InferpipeProgress"]["ElapsedSeconds"]
    assert slow_1 >= 2.0 and slow_4 < slow_1 - 1.0, (slow_1, slow_4)
    p = descs["multi-4"]["InferpipeProgress"]
    assert p["RecordsProcessed"] == 30000 and p["FilesCompleted"] == 1 and p["BytesWritten"] == big.stat().st_size
    assert descs["multi-4"]["InferpipeExecutionParameters"]["MaxConcurrentTransforms"] == 4
    assert descs["gzip"]["InferpipeProgress"]["BytesProcessed"] == gz.stat().st_size
    # boto3 reads the standard members, times included
    d = sm.describe_transform_job(TransformJobName=names["multi-4"])
    assert d["TransformJobStatus"] == "Completed" and d["TransformEndTime"] >= d["TransformStartTime"]
    assert not any(daemon.containers_of(n) for n in names.values())


def test_data_processing_filters_and_joins(sm: Any, daemon: DaemonHandle, raw_model: str, work: Path) -> None:
    """DataProcessing (docs/dataprocessing.md) on a model that answers what it receives (so its
    output is the filtered input): the documented CSV example, the inclusive slice end, JSON joins
    under SageMakerOutput."""
    csv_in = work / "csv" / "rows.csv"
    csv_in.parent.mkdir()
    csv_in.write_text("".join(f"id{i},a{i},b{i},c{i}\n" for i in range(50)))
    docs = work / "json" / "docs.jsonl"
    docs.parent.mkdir()
    docs.write_text("".join(json.dumps({"id": i, "features": [i, i + 0.5]}) + "\n" for i in range(20)))
    arrays = work / "arrays" / "arrays.jsonl"
    arrays.parent.mkdir()
    arrays.write_text("".join(json.dumps([i, i + 1, i + 2]) + "\n" for i in range(20)))
    csv = dict(source=csv_in, accept="text/csv", assemble="Line")
    jsonl = dict(content_type="application/jsonlines", accept="application/jsonlines", assemble="Line")
    jobs: dict[str, dict[str, Any]] = {
        # the documented example: drop the ID column for the model, keep ID and inference
        "id-and-inference": dict(csv, dp={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}),
        "full-join": dict(csv, dp={"InputFilter": "$[1:]", "JoinSource": "Input"}),
        "inclusive-slice": dict(csv, dp={"InputFilter": "$[1:2]"}),
        "json-object": dict(
            jsonl,
            source=docs,
            dp={"InputFilter": "$.features", "JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
        ),
        "json-array": dict(jsonl, source=arrays, dp={"InputFilter": "$[1:]", "JoinSource": "Input"}),
    }
    names = {key: unique(f"tx-dp-{key}") for key in jobs}
    for key, params in jobs.items():
        params = dict(params)
        create_job(sm, names[key], raw_model, params.pop("source"), work / "out" / key, **params)
    for n in names.values():
        completed(daemon, n)

    def lines(key: str, name: str) -> list[str]:
        return (work / "out" / key / f"{name}.out").read_text().splitlines()

    assert lines("id-and-inference", "rows.csv") == [f"id{i},c{i}" for i in range(50)]
    assert lines("full-join", "rows.csv") == [f"id{i},a{i},b{i},c{i},a{i},b{i},c{i}" for i in range(50)]
    # $[1:2] is the second THROUGH third column (AWS documentation; standard JSONPath would stop before)
    assert lines("inclusive-slice", "rows.csv") == [f"a{i},b{i}" for i in range(50)]
    assert [json.loads(x) for x in lines("json-object", "docs.jsonl")] == [
        {"id": i, "SageMakerOutput": [i, i + 0.5]} for i in range(20)
    ]
    assert [json.loads(x) for x in lines("json-array", "arrays.jsonl")] == [
        {"SageMakerInput": [i, i + 1, i + 2], "SageMakerOutput": [i + 1, i + 2]} for i in range(20)
    ]


def test_two_instances_share_a_multi_file_input(sm: Any, daemon: DaemonHandle, echo_image: str, work: Path) -> None:
    """Files are spread over instances (the instances share the job's mini-batches, each record goes
    through one instance's chain), relative paths are kept, batch variables reach every container,
    and /execution-parameters fills in what the call left out."""
    params = {"MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 5}
    model = echo_model(sm, echo_image, raw=False, env1={"EXECUTION_PARAMETERS": json.dumps(params)})
    src = work / "in"
    rels = ["a.csv", "b.csv", "sub/c.csv", "sub/deeper/d.csv"]
    for n, rel in enumerate(rels):
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(f"f{n}-r{i} SLEEP:150\n" for i in range(6)))
    name = unique("tx-two")
    out = work / "out"
    create_job(sm, name, model, src, out, instances=2, MaxPayloadInMB=2)
    deadline = time.monotonic() + 60
    envs: list[dict[str, str]] = []
    while not envs and time.monotonic() < deadline:
        desc = raw_describe(daemon, name)
        instances = desc.get("InferpipeInstances") or []
        if desc["TransformJobStatus"] != "InProgress":
            break
        if len(instances) == 2:
            envs = [stats(c["HostPort"])["env"] for i in instances for c in i["Containers"]]
        time.sleep(0.1)
    desc = completed(daemon, name)
    assert len(envs) == 4, "the job ended before its containers could be inspected"
    for env in envs:  # on every container: SAGEMAKER_BATCH, and only the settings the call gave
        assert env["SAGEMAKER_BATCH"] == "true" and env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "2"
        assert "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS" not in env and "SAGEMAKER_BATCH_STRATEGY" not in env
    # the call's MaxPayloadInMB wins over the container's; the rest comes from /execution-parameters
    effective = desc["InferpipeExecutionParameters"]
    assert (effective["MaxConcurrentTransforms"], effective["BatchStrategy"], effective["MaxPayloadInMB"]) == (
        3,
        "SingleRecord",
        2,
    )
    hosts = set()
    for n, rel in enumerate(rels):
        got = (out / (rel + ".out")).read_text().splitlines()
        assert [g.split("|")[0] for g in got] == [f"f{n}-r{i} SLEEP:150" for i in range(6)]
        for g in got:
            _, first, second = g.split("|")
            assert first.startswith("container-1@") and second.startswith("container-2@"), g
            assert first.rsplit("-", 1)[-1] == second.rsplit("-", 1)[-1], g  # one instance's chain
            hosts.add(first.split("@")[1])
    assert {h.rsplit("-", 1)[-1] for h in hosts} == {"i1", "i2"}, hosts


def test_one_file_keeps_both_instances_busy(sm: Any, daemon: DaemonHandle, echo_image: str, work: Path) -> None:
    """A single input file on two instances: its mini-batches go to both, and the output keeps the
    input order (the last file of a job no longer leaves the other instances idle)."""
    model = echo_model(sm, echo_image, raw=False)
    src = work / "in" / "only.csv"
    src.parent.mkdir()
    src.write_text("".join(f"r{i} SLEEP:30\n" for i in range(40)))
    name = unique("tx-one-file")
    out = work / "out"
    create_job(sm, name, model, src.parent, out, instances=2, BatchStrategy="SingleRecord", MaxConcurrentTransforms=2)
    completed(daemon, name)
    got = (out / "only.csv.out").read_text().splitlines()
    assert [g.split("|")[0] for g in got] == [f"r{i} SLEEP:30" for i in range(40)]
    instances = {g.split("|")[1].rsplit("-", 1)[-1] for g in got}
    assert instances == {"i1", "i2"}, instances
    assert not daemon.containers_of(name)


def test_failing_record_fails_the_job_naming_file_record_and_container(
    sm: Any, daemon: DaemonHandle, raw_model: str, work: Path
) -> None:
    src = work / "in"
    src.mkdir()
    (src / "good-1.csv").write_text("".join(f"g{i}\n" for i in range(30)))
    (src / "bad.csv").write_text("".join(f"b{i}{' FAIL:container-2:500' if i == 6 else ''}\n" for i in range(30)))
    (src / "good-2.csv").write_text("".join(f"h{i}\n" for i in range(30)))
    out = work / "out"
    name = unique("tx-fail")
    create_job(sm, name, raw_model, src, out, BatchStrategy="SingleRecord", MaxConcurrentTransforms=2)
    with pytest.raises(botocore.exceptions.WaiterError):
        sm.get_waiter("transform_job_completed_or_stopped").wait(
            TransformJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": TIMEOUT}
        )
    desc = raw_describe(daemon, name)
    reason = desc["FailureReason"]
    assert desc["TransformJobStatus"] == "Failed"
    assert "bad.csv" in reason and "record 7" in reason and "container-2" in reason and "(500)" in reason, reason
    assert not (out / "bad.csv.out").exists()
    # the other files still ran to the end (as on SageMaker) and kept their output
    assert (out / "good-1.csv.out").read_text() == (src / "good-1.csv").read_text()
    assert (out / "good-2.csv.out").read_text() == (src / "good-2.csv").read_text()
    assert desc["InferpipeProgress"]["FilesFailed"] == 1 and desc["InferpipeProgress"]["FilesCompleted"] == 2
    assert not partials(out)
    assert daemon.containers_of(name) == []


def test_stop_mid_run(sm: Any, daemon: DaemonHandle, raw_model: str, work: Path) -> None:
    src = work / "in" / "slow.csv"
    src.parent.mkdir()
    src.write_text("".join(f"r{i} SLEEP:50\n" for i in range(400)))
    out = work / "out"
    name = unique("tx-stop")
    create_job(sm, name, raw_model, src, out, BatchStrategy="SingleRecord", MaxConcurrentTransforms=1)
    deadline = time.monotonic() + 60
    while raw_describe(daemon, name)["InferpipeProgress"]["RecordsProcessed"] < 5:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert partials(out), "the partial output should exist while the file is being transformed"
    sm.stop_transform_job(TransformJobName=name)
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in ("Stopping", "Stopped")
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "Stopped"
    assert daemon.containers_of(name) == []
    assert not (out / "slow.csv.out").exists() and not partials(out)
    with pytest.raises(sm.exceptions.ClientError) as err:
        sm.stop_transform_job(TransformJobName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def _hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def test_large_input_keeps_daemon_memory_flat(sm: Any, daemon: DaemonHandle, raw_model: str, work: Path) -> None:
    assert daemon.proc is not None
    block = "".join(f"{i:08d},{'z' * 90}\n" for i in range(10000)).encode()  # ~1 MB of 100-byte lines
    small, large = work / "small" / "in.csv", work / "large" / "in.csv"
    for path, mb in ((small, 40), (large, 200)):
        path.parent.mkdir()
        with path.open("wb") as fh:
            for _ in range(mb):
                fh.write(block)
    settings = dict(BatchStrategy="MultiRecord", MaxPayloadInMB=4, MaxConcurrentTransforms=2)
    name = unique("tx-mem-small")
    create_job(sm, name, raw_model, small, work / "out-small", **settings)
    completed(daemon, name)
    before = _hwm_kb(daemon.proc.pid)
    name = unique("tx-mem-large")
    create_job(sm, name, raw_model, large, work / "out-large", **settings)
    desc = completed(daemon, name, timeout=150)
    growth_mb = (_hwm_kb(daemon.proc.pid) - before) / 1024
    print(f"daemon peak RSS: {before / 1024:.0f} MB after 40 MB, +{growth_mb:.1f} MB after 200 MB")
    out = work / "out-large" / "in.csv.out"
    assert out.stat().st_size == large.stat().st_size and _sha(out) == _sha(large)
    assert desc["InferpipeProgress"]["RecordsProcessed"] == 200 * 10000
    # 200 MB through the chain: the daemon's peak memory grows by a few mini-batches at most
    assert growth_mb < 60, f"daemon peak RSS grew by {growth_mb:.0f} MB for a 200 MB input"


def test_api_errors_and_listing(sm: Any, daemon: DaemonHandle, raw_model: str, work: Path) -> None:
    src = work / "in.csv"
    src.write_text("a\nb\n")
    tag = unique("tx-list")
    names = [f"{tag}-b", f"{tag}-a"]
    for n in names:
        create_job(sm, n, raw_model, src, work / "out")
    with pytest.raises(sm.exceptions.ResourceInUse):
        create_job(sm, names[0], raw_model, src, work / "out")

    def error(**changes: Any) -> str:
        with pytest.raises(sm.exceptions.ClientError) as err:
            args = dict(name=unique("tx-bad"), model=raw_model, source=src, output=work / "out") | changes
            create_job(sm, args.pop("name"), args.pop("model"), args.pop("source"), args.pop("output"), **args)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        return err.value.response["Error"]["Message"]

    assert "does not name a valid bucket" in error(source="s3://Not_A_Bucket/prefix/")
    assert "is not a local path" in error(source="https://bucket.s3.amazonaws.com/prefix/")
    assert "Could not find model" in error(model="no-such-model")
    assert "No local file or directory" in error(source=work / "missing" / "x")
    assert "MaxConcurrentTransforms (20) multiplied by MaxPayloadInMB (6)" in error(MaxConcurrentTransforms=20)
    assert "SplitType must be Line" in error(split="None", accept="text/csv", dp={"InputFilter": "$[1:]"})
    # a model whose image does not exist: the job fails at start-up and says why
    noimg = unique("tx-noimg")
    sm.create_model(ModelName=noimg, PrimaryContainer={"Image": "inferpipe-test/no-such-image:1"})
    create_job(sm, noimg, noimg, src, work / "out-noimg")
    desc = finished(daemon, noimg)
    assert desc["TransformJobStatus"] == "Failed" and "no-such-image" in desc["FailureReason"], desc
    with pytest.raises(sm.exceptions.ClientError, match="Could not find transform job"):
        sm.describe_transform_job(TransformJobName="no-such-job")
    for n in names:
        sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName=n, WaiterConfig={"Delay": 1})
    listed = sm.list_transform_jobs(NameContains=tag, SortBy="Name", SortOrder="Ascending")
    assert [s["TransformJobName"] for s in listed["TransformJobSummaries"]] == sorted(names)
    assert all(s["TransformJobStatus"] == "Completed" for s in listed["TransformJobSummaries"])
    first = sm.list_transform_jobs(NameContains=tag, MaxResults=1, StatusEquals="Completed")
    second = sm.list_transform_jobs(NameContains=tag, MaxResults=1, NextToken=first["NextToken"])
    assert len(first["TransformJobSummaries"]) == len(second["TransformJobSummaries"]) == 1
    assert "NextToken" not in second
    assert sm.list_transform_jobs(NameContains=tag, StatusEquals="Failed")["TransformJobSummaries"] == []
    with pytest.raises(sm.exceptions.ClientError, match="cannot be stopped"):
        sm.stop_transform_job(TransformJobName=names[0])


def test_cli(daemon: DaemonHandle, raw_model: str, work: Path) -> None:
    data = work / "data"
    data.mkdir()
    (data / "rows.csv").write_text("".join(f"id{i},{i},{i * 2}\n" for i in range(40)))
    # the friendly command, from a working directory with relative paths
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "inferpipe"),
            "transform",
            "--model-name",
            raw_model,
            "--input",
            "data/",
            "--output",
            "out/",
            "--content-type",
            "text/csv",
            "--split-type",
            "Line",
            "--input-filter",
            "$[1:]",
            "--join-source",
            "Input",
            "--output-filter",
            "$[0,-1]",
            "--output",
            "json",
        ],
        env=daemon.env,
        cwd=work,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    desc = json.loads(result.stdout)
    assert desc["TransformJobStatus"] == "Completed" and desc["InferpipeProgress"]["RecordsProcessed"] == 40
    assert (work / "out" / "rows.csv.out").read_text() == "".join(f"id{i},{i * 2}\n" for i in range(40))
    # a failing job: exit 1 and the reason on stderr
    (data / "rows.csv").write_text("x\ny FAIL:container-2:400\n")
    result = daemon.cli(
        "transform", "--model-name", raw_model, "--input", str(data), "--output", str(work / "out2"),
        "--split-type", "Line", "--batch-strategy", "SingleRecord",
    )  # fmt: skip
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "Failed" in err and "rows.csv: record 2" in err and "container-2" in err, err
    # the AWS CLI shape: shorthand structures, the waiter, describe and list
    name = unique("tx-cli")
    daemon.cli(
        "create-transform-job", "--transform-job-name", name, "--model-name", raw_model,
        "--transform-input", f"DataSource={{S3DataSource={{S3DataType=S3Prefix,S3Uri={data}/}}}},SplitType=Line",
        "--transform-output", f"S3OutputPath={work / 'out3'}",
        "--transform-resources", "InstanceType=ml.m5.large,InstanceCount=1",
        "--max-concurrent-transforms", "2", "--batch-strategy", "SingleRecord",
        check=True,
    )  # fmt: skip
    result = daemon.cli("wait", "transform-job-completed-or-stopped", "--transform-job-name", name)
    assert result.returncode == 255 and "record 2" in result.stderr.decode()  # a waiter failure, as the AWS CLI
    assert "Waiter TransformJobCompletedOrStopped failed: Waiter encountered a terminal failure state" in (
        result.stderr.decode()
    )
    desc = daemon.cli_json("describe-transform-job", "--transform-job-name", name)
    assert desc["TransformJobStatus"] == "Failed" and desc["MaxConcurrentTransforms"] == 2
    listed = daemon.cli_json("list-transform-jobs", "--name-contains", name, "--status-equals", "Failed")
    assert [s["TransformJobName"] for s in listed["TransformJobSummaries"]] == [name]
    table = daemon.cli("describe-transform-job", "--transform-job-name", name, "--output", "table", check=True)
    # --output table is the AWS CLI's table (the progress view is a terminal's, without --output)
    assert b"DescribeTransformJob" in table.stdout and b"InferpipeProgress" in table.stdout, table.stdout
    assert b"Failed" in table.stdout and b"record 2" in table.stdout, table.stdout


def test_daemon_restart_fails_the_running_job_and_removes_its_containers(echo_image: str, tmp_path: Path) -> None:
    d = make_daemon()
    d.start()
    try:
        sm = d.client()
        model = echo_model(sm, echo_image, raw=True)
        src = tmp_path / "in" / "slow.csv"
        src.parent.mkdir()
        src.write_text("".join(f"r{i} SLEEP:50\n" for i in range(400)))
        out = tmp_path / "out"

        def start_job(name: str) -> None:
            create_job(sm, name, model, src, out, BatchStrategy="SingleRecord", MaxConcurrentTransforms=1)
            deadline = time.monotonic() + 60
            while raw_describe(d, name)["InferpipeProgress"]["RecordsProcessed"] < 3:
                assert time.monotonic() < deadline
                time.sleep(0.1)

        crashed, stopped = unique("tx-crash"), unique("tx-shutdown")
        start_job(crashed)
        d.stop(signal.SIGKILL)  # a crash: nothing cleaned up
        assert d.containers_of(crashed) and partials(out)
        d.start()  # the new daemon finds the job InProgress and fails it (after it starts listening)
        desc = finished(d, crashed, timeout=30)
        assert (
            desc["TransformJobStatus"] == "Failed"
            and "daemon stopped while this job was running" in desc["FailureReason"]
        ), desc.get("FailureReason")
        assert "TransformEndTime" in desc
        assert d.containers_of(crashed) == [] and not partials(out)
        start_job(stopped)
        d.stop()  # graceful: the daemon fails the job and removes its containers itself
        assert d.containers_of(stopped) == [] and not partials(out)
        d.start()
        desc = finished(d, stopped, timeout=30)
        assert (
            desc["TransformJobStatus"] == "Failed" and "was stopped while this job was running" in desc["FailureReason"]
        )
    finally:
        cleanup(d)


# the wine sample -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wine_model(sm: Any) -> Iterator[tuple[str, str]]:
    """The wine pipeline as a model, and an endpoint of it for real-time predictions."""
    subprocess.run(
        ["bash", str(WINE / "build.sh"), "--version", "1"],
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
    )
    spec = yaml.safe_load((WINE / "pipeline.yaml").read_text())
    name = unique("tx-wine")
    model = spec["model"]
    model["ModelName"] = name
    for c in model["Containers"]:
        c["ModelDataUrl"] = str(WINE / c["ModelDataUrl"])
    sm.create_model(**model)
    variant = dict(spec["endpointConfig"]["ProductionVariants"][0], ModelName=name, InitialInstanceCount=1)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_endpoint(sm, name, timeout=180)
    yield name, name
    teardown(sm, name)


def test_wine_batch_predictions_equal_real_time_predictions(
    sm: Any, rt: Any, daemon: DaemonHandle, wine_model: tuple[str, str], work: Path
) -> None:
    model, endpoint = wine_model
    rows = (WINE / "batch" / "wine-batch.csv").read_text().splitlines()
    distinct = 178  # the example cycles through the wine data set
    features = [r.split(",", 1)[1] for r in rows[:distinct]]
    r = rt.invoke_endpoint(
        EndpointName=endpoint, Body="\n".join(features).encode(), ContentType="text/csv", Accept="text/csv"
    )
    realtime = r["Body"].read().decode().splitlines()
    assert len(realtime) == distinct

    (work / "csv-300").mkdir()
    (work / "csv-300" / "wine.csv").write_text("\n".join(rows[:300]) + "\n")
    (work / "csv-12k").mkdir()  # > 1 MB: several MultiRecord batches in flight at once
    (work / "csv-12k" / "wine.csv").write_text(
        "".join(f"x{i},{rows[i % len(rows)].split(',', 1)[1]}\n" for i in range(12000))
    )
    (work / "jsonl").mkdir()
    (work / "jsonl" / "wine.jsonl").write_text(
        "".join(json.dumps({"id": i, "features": [float(v) for v in features[i % distinct].split(",")]}) + "\n"
                for i in range(300))
    )  # fmt: skip
    drop_id_join = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-3,-2,-1]"}
    csv = dict(accept="text/csv", assemble="Line", dp=drop_id_join)
    jobs: dict[str, dict[str, Any]] = {
        "csv-single-1": dict(csv, source=work / "csv-300", BatchStrategy="SingleRecord", MaxConcurrentTransforms=1),
        "csv-multi-4": dict(
            csv, source=work / "csv-12k", BatchStrategy="MultiRecord", MaxConcurrentTransforms=4, MaxPayloadInMB=1
        ),
        "jsonl-single-4": dict(
            source=work / "jsonl",
            content_type="application/json",  # each JSON Lines record is one flat JSON row for the featurizer
            accept="application/jsonlines",
            assemble="Line",
            dp={"InputFilter": "$.features", "JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
            BatchStrategy="SingleRecord",
            MaxConcurrentTransforms=4,
        ),
        "jsonl-multi-1": dict(
            source=work / "jsonl",
            content_type="application/jsonlines",  # several records per request, one per line
            accept="application/jsonlines",
            assemble="Line",
            dp={"InputFilter": "$.features", "JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
            BatchStrategy="MultiRecord",
            MaxConcurrentTransforms=1,
            MaxPayloadInMB=1,
        ),
        "csv-single-4": dict(csv, source=work / "csv-300", BatchStrategy="SingleRecord", MaxConcurrentTransforms=4),
    }
    names = {key: unique(f"tx-wine-{key}") for key in jobs}
    for key, params in jobs.items():
        params = dict(params)
        create_job(sm, names[key], model, params.pop("source"), work / "out" / key, **params)
    for n in names.values():
        completed(daemon, n, timeout=180)

    def check(line_label: str, line_class: str, line_prob: str, i: int) -> None:
        label, cls, prob = realtime[i % distinct].split(",")
        assert (line_label, line_class) == (label, cls), i
        assert float(line_prob) == pytest.approx(float(prob), rel=1e-12, abs=1e-12), i

    got = (work / "out" / "csv-single-1" / "wine.csv.out").read_text().splitlines()
    assert len(got) == 300
    for i, line in enumerate(got):
        ident, label, cls, prob = line.split(",")
        assert ident == f"w{i + 1:04d}"
        check(label, cls, prob, i)
    got = (work / "out" / "csv-multi-4" / "wine.csv.out").read_text().splitlines()
    assert len(got) == 12000
    for i, line in enumerate(got):
        ident, label, cls, prob = line.split(",")
        assert ident == f"x{i}"
        check(label, cls, prob, i % len(rows))
    got = (work / "out" / "csv-single-4" / "wine.csv.out").read_text().splitlines()
    assert [line.split(",")[0] for line in got] == [f"w{i + 1:04d}" for i in range(300)]
    for i, line in enumerate(got):
        check(*line.split(",")[1:], i)
    for key in ("jsonl-single-4", "jsonl-multi-1"):
        got = (work / "out" / key / "wine.jsonl.out").read_text().splitlines()
        assert len(got) == 300, key
        for i, line in enumerate(got):
            doc = json.loads(line)
            assert doc["id"] == i
            out = doc["SageMakerOutput"]
            check(out["label"], str(out["class"]), repr(out["probability"]), i)
