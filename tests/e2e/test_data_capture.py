"""Data capture on real pipelines: SageMaker's file layout and line shape, sampling, BASE64 for
binary types, a new capture config taking effect with UpdateEndpoint's new fleet, and drops counted
(never a failed request) when the writer cannot keep up."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import echo_containers, teardown, unique
from support import cleanup, make_daemon, wait_endpoint

HEADER = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}


def capture_config(dest: Path, pct: int = 100, mode: str = "InputAndOutput", **extra: Any) -> dict[str, Any]:
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": pct,
        "DestinationS3Uri": f"file://{dest}",
        "CaptureOptions": [{"CaptureMode": mode}],
        "CaptureContentTypeHeader": HEADER,
        **extra,
    }


def variant(model: str) -> dict[str, Any]:
    return {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}


def deploy_capturing(sm: Any, name: str, image: str, n: int, capture: dict[str, Any]) -> None:
    sm.create_model(ModelName=name, Containers=echo_containers(image, n))
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[variant(name)],
        DataCaptureConfig=capture,
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_endpoint(sm, name, "InService", timeout=120)


def read_lines(root: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for f in sorted(root.rglob("*.jsonl")) for x in f.read_text().splitlines() if x]


def wait_lines(root: Path, n: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The captured lines once ``n`` are written (the writer batches, off the request path)."""
    deadline = time.monotonic() + timeout
    while True:
        got = read_lines(root)
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_capture_files_layout_and_shape(sm, rt, echo_image, daemon, tmp_path):  # noqa: ANN001
    name = unique("cap")
    dest = tmp_path / "capture"
    deploy_capturing(sm, name, echo_image, 2, capture_config(dest, KmsKeyId="alias/capture"))
    try:
        desc = sm.describe_endpoint(EndpointName=name)["DataCaptureConfig"]
        assert desc["EnableCapture"] is True and desc["CaptureStatus"] == "Started"
        assert desc["CurrentSamplingPercentage"] == 100 and desc["KmsKeyId"] == "alias/capture"
        before = dt.datetime.now(dt.UTC)
        sent = {}
        for i in range(5):
            body = f"{i},1.5,x".encode()
            r = rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv", InferenceId=f"req-{i}")
            sent[f"req-{i}"] = (body, r["Body"].read(), r["ContentType"])
        binary = bytes(range(256)) * 4
        r = rt.invoke_endpoint(EndpointName=name, Body=binary, ContentType="application/x-npy", InferenceId="bin")
        sent["bin"] = (binary, r["Body"].read(), r["ContentType"])
        after = dt.datetime.now(dt.UTC)

        lines = wait_lines(dest, 6)
        assert len(lines) == 6
        files = [p.relative_to(dest).as_posix() for p in dest.rglob("*.jsonl")]
        hours = {f"{t:%Y/%m/%d/%H}" for t in (before, after)}
        for f in files:
            m = re.fullmatch(rf"{name}/AllTraffic/(\d{{4}}/\d\d/\d\d/\d\d)/\d\d-\d\d-\d{{3}}-[0-9a-f-]{{36}}\.jsonl", f)
            assert m and m.group(1) in hours, f

        by_id = {x["eventMetadata"]["inferenceId"]: x for x in lines}
        assert set(by_id) == set(sent)
        for inference_id, (body, answer, answer_type) in sent.items():
            line = by_id[inference_id]
            assert line["eventVersion"] == "0"
            meta = line["eventMetadata"]
            assert re.fullmatch(r"[0-9a-f-]{36}", meta["eventId"])
            t = dt.datetime.strptime(meta["inferenceTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
            assert before - dt.timedelta(seconds=1) <= t <= after + dt.timedelta(seconds=1)
            inp, out = line["captureData"]["endpointInput"], line["captureData"]["endpointOutput"]
            assert inp["mode"] == "INPUT" and out["mode"] == "OUTPUT"
            assert out["observedContentType"] == answer_type
            if inference_id == "bin":
                assert inp["observedContentType"] == "application/x-npy"
                assert inp["encoding"] == out["encoding"] == "BASE64"
                assert base64.b64decode(inp["data"]) == body and base64.b64decode(out["data"]) == answer
            else:  # the echo chain answers in the request's type: CSV both ways, as text
                assert inp == {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": body.decode(),
                    "encoding": "CSV",
                }
                assert out["encoding"] == "CSV" and out["data"] == answer.decode()
        assert len({x["eventMetadata"]["eventId"] for x in lines}) == 6

        metrics = daemon.cli_json("metrics", "--endpoint-name", name)["Metrics"]
        captured = [m for m in metrics if m["MetricName"] == "CapturedRecords"]
        assert captured and captured[0]["Sum"] == 6
        prom = httpx.get(daemon.url + "/metrics", auth=daemon.auth, timeout=10).text
        assert f'inferpipe_captured_records_total{{endpoint="{name}",variant="AllTraffic"}} 6' in prom
    finally:
        teardown(sm, name)


def test_sampling_captures_its_share(sm, rt, echo_image, tmp_path):  # noqa: ANN001
    name = unique("cap-sample")
    dest = tmp_path / "capture"
    deploy_capturing(sm, name, echo_image, 1, capture_config(dest, pct=30, mode="Input"))
    try:

        def call(i: int) -> int:
            r = rt.invoke_endpoint(EndpointName=name, Body=f"{i}".encode(), ContentType="text/csv")
            r["Body"].read()
            return r["ResponseMetadata"]["HTTPStatusCode"]

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(call, range(2000))) == {200}
        time.sleep(3)  # more than the writer's batch window: every sampled record is written
        lines = read_lines(dest)
        share = len(lines) / 2000
        assert 0.25 <= share <= 0.35, share  # 30 % +- 5 points: about 5 standard deviations
        assert all(list(x["captureData"]) == ["endpointInput"] for x in lines), "Input only"
        assert len({x["captureData"]["endpointInput"]["data"] for x in lines}) == len(lines)
    finally:
        teardown(sm, name)


def test_update_endpoint_new_capture_config_takes_effect_with_the_new_fleet(sm, rt, echo_image, tmp_path):  # noqa: ANN001
    name = unique("cap-update")
    first, second = tmp_path / "first", tmp_path / "second"
    deploy_capturing(sm, name, echo_image, 1, capture_config(first))
    try:
        rt.invoke_endpoint(EndpointName=name, Body=b"before", ContentType="text/csv")["Body"].read()
        new_config = f"{name}-v2"
        sm.create_endpoint_config(
            EndpointConfigName=new_config,
            ProductionVariants=[variant(name)],
            DataCaptureConfig=capture_config(second, mode="Output"),
        )
        sm.update_endpoint(EndpointName=name, EndpointConfigName=new_config)
        wait_endpoint(sm, name, "InService", timeout=120)
        rt.invoke_endpoint(EndpointName=name, Body=b"after", ContentType="text/csv")["Body"].read()
        old, new = wait_lines(first, 1), wait_lines(second, 1)
        assert [x["captureData"]["endpointInput"]["data"] for x in old] == ["before"]
        assert len(new) == 1 and list(new[0]["captureData"]) == ["endpointOutput"]
        assert new[0]["captureData"]["endpointOutput"]["data"].startswith("after|")
        # and a config without capture turns it off with its fleet
        off = f"{name}-v3"
        sm.create_endpoint_config(
            EndpointConfigName=off,
            ProductionVariants=[variant(name)],
        )
        sm.update_endpoint(EndpointName=name, EndpointConfigName=off)
        wait_endpoint(sm, name, "InService", timeout=120)
        assert "DataCaptureConfig" not in sm.describe_endpoint(EndpointName=name)
        rt.invoke_endpoint(EndpointName=name, Body=b"off", ContentType="text/csv")["Body"].read()
        time.sleep(2)
        assert len(read_lines(second)) == 1 and len(read_lines(first)) == 1
    finally:
        teardown(sm, name)


def test_no_request_fails_when_the_writer_cannot_keep_up(echo_image, tmp_path):  # noqa: ANN001
    """A writer that writes once a minute with room for two records: the rest are dropped and counted,
    and every request answers."""
    d = make_daemon(INFERPIPE_CAPTURE_BUFFER_BYTES="8k", INFERPIPE_CAPTURE_FLUSH_SECONDS="60")
    d.start()
    try:
        sm, rt = d.client("sagemaker"), d.client("sagemaker-runtime")
        name = unique("cap-stall")
        dest = tmp_path / "capture"
        deploy_capturing(sm, name, echo_image, 1, capture_config(dest))
        body = b"x" * 1500  # one waiting record fits, a second one does not

        def call(i: int) -> int:
            r = rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")
            r["Body"].read()
            return r["ResponseMetadata"]["HTTPStatusCode"]

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(call, range(200))) == {200}
        metrics = {m["MetricName"]: m for m in d.cli_json("metrics", "--endpoint-name", name)["Metrics"]}
        dropped = metrics["CaptureDroppedRecords"]["Sum"]
        assert dropped > 100
        assert dropped == 198, "two records fit in the writer's memory bound, the rest are dropped"
        prom = httpx.get(d.url + "/metrics", auth=d.auth, timeout=10).text
        assert f'inferpipe_capture_dropped_records_total{{endpoint="{name}",variant="AllTraffic"}} {dropped}' in prom
        assert read_lines(dest) == [], "nothing written before the window ends"
        teardown(sm, name)
        d.stop()  # a daemon that stops writes what its writer holds
        assert len(read_lines(dest)) == 2
    finally:
        cleanup(d)


def wait_job(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_transform_job(TransformJobName=name)
        if desc["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc
        assert time.monotonic() < deadline, f"{name} still {desc['TransformJobStatus']}"
        time.sleep(0.25)


def test_transform_job_capture_writes_input_and_output_manifests(sm, echo_image, tmp_path):  # noqa: ANN001
    model = unique("cap-tx")
    sm.create_model(ModelName=model, Containers=echo_containers(echo_image, 2))
    src, out, dest = tmp_path / "in", tmp_path / "out", tmp_path / "capture"
    for rel in ("a.csv", "sub/b.csv"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("1,2\n3,4\n")

    def job(name: str, capture: dict[str, Any]) -> None:
        sm.create_transform_job(
            TransformJobName=name,
            ModelName=model,
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{src}"}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            TransformOutput={"S3OutputPath": f"file://{out}", "AssembleWith": "Line"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
            DataCaptureConfig=capture,
        )

    name = unique("cap-tx")
    before = dt.datetime.now(dt.UTC)
    job(name, {"DestinationS3Uri": f"file://{dest}", "GenerateInferenceId": True})
    desc = wait_job(sm, name)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["DataCaptureConfig"] == {"DestinationS3Uri": f"file://{dest}", "GenerateInferenceId": True}
    hours = {f"{t:%Y/%m/%d/%H}" for t in (before, dt.datetime.now(dt.UTC))}  # the hour the job started
    for kind, root, keys in (
        ("input", src, ["a.csv", "sub/b.csv"]),
        ("output", out, ["a.csv.out", "sub/b.csv.out"]),
    ):
        files = list((dest / kind).rglob("*.jsonl"))
        assert len(files) == 1 and files[0].relative_to(dest / kind).as_posix().rsplit("/", 1)[0] in hours
        doc = json.loads(files[0].read_text())
        assert doc == [{"prefix": f"file://{root}/"}, *keys]  # the ManifestFile format
        assert all(Path(doc[0]["prefix"][len("file://") :], k).is_file() for k in doc[1:])

    # the input manifest is a ManifestFile a new job can read: the same data, transformed again
    again, out2 = unique("cap-tx-again"), tmp_path / "out2"
    manifest = next((dest / "input").rglob("*.jsonl"))
    sm.create_transform_job(
        TransformJobName=again,
        ModelName=model,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": f"file://{manifest}"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"file://{out2}", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    assert wait_job(sm, again)["TransformJobStatus"] == "Completed"
    assert sorted(p.relative_to(out2).as_posix() for p in out2.rglob("*.out")) == ["a.csv.out", "sub/b.csv.out"]

    # an S3 destination that names no valid bucket is refused before anything starts
    with pytest.raises(sm.exceptions.ClientError) as err:
        job(unique("cap-tx-s3"), {"DestinationS3Uri": "s3://Bad_Bucket/capture"})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "DataCaptureConfig.DestinationS3Uri: 's3://Bad_Bucket/capture'" in err.value.response["Error"]["Message"]
