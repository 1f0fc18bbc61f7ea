"""The SageMaker Python SDK's own flows against the daemon, unmodified: SDK v2 (PyPI ``sagemaker`` < 3,
from the test extra) in this process, SDK v3's ``sagemaker.core`` resources in a venv of their own
(sdk_v3_env.py) through sdk_v3_flow.py in a subprocess. S3 is the moto server, reached by the SDK
and by the daemon through their own credentials. The three stages are the echo test image, so each
answer names the containers it went through, in order."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers import teardown, unique
from sdk_v3_env import sdk_v3_python
from support import DaemonHandle, cleanup, make_daemon, wait_gone

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def daemon(s3_server: Any) -> Iterator[DaemonHandle]:
    """A daemon whose S3 is the moto server (the SDK reaches the same server with its own keys)."""
    d = make_daemon(**s3_server.daemon_env())
    d.start()
    yield d
    cleanup(d)


@pytest.fixture(scope="module")
def sm(daemon: DaemonHandle) -> Any:
    return daemon.client("sagemaker")


@pytest.fixture
def model_tarball(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("weights.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"w"))
    path = tmp_path / "model.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


def sdk_v2_session(daemon: DaemonHandle, s3_server: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """sagemaker.Session as its documentation builds it: SageMaker clients pointed at the daemon (signed
    with its credentials), the boto session's own clients (S3) at the S3 server by AWS_ENDPOINT_URL_S3."""
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sagemaker
    boto_session = boto3.Session(region_name=daemon.credentials.region, **s3_server.admin.boto())
    return sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=daemon.client("sagemaker"),
        sagemaker_runtime_client=daemon.client("sagemaker-runtime"),
        default_bucket=bucket,
    )


def test_sdk_v2_pipeline_model_deploy_predict_update_transform_delete(
    daemon: DaemonHandle,
    sm: Any,
    s3_server: Any,
    echo_image: str,
    model_tarball: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sagemaker.model import Model
    from sagemaker.pipeline import PipelineModel
    from sagemaker.predictor import Predictor

    bucket = unique("sdk2")
    session = sdk_v2_session(daemon, s3_server, bucket, monkeypatch)
    model_data = session.upload_data(str(model_tarball), key_prefix="models")
    assert model_data == f"s3://{bucket}/models/model.tar.gz"
    name = unique("sdk2")
    role = "arn:aws:iam::123456789012:role/inferpipe"
    stages = [
        Model(
            image_uri=echo_image,
            model_data=model_data,
            env={"ECHO_TAG": f"stage{i}"},
            role=role,
            sagemaker_session=session,
        )
        for i in range(1, 4)
    ]
    pipeline = PipelineModel(models=stages, role=role, sagemaker_session=session, name=name)
    try:
        pipeline.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=name)
        predictor = Predictor(name, sagemaker_session=session)
        answer = predictor.predict(b"hello", initial_args={"ContentType": "text/plain"})
        assert answer == b"hello|stage1@AllTraffic-i1|stage2@AllTraffic-i1|stage3@AllTraffic-i1"

        # the SDK describes the endpoint and its config, reads its tags, creates a new config and waits
        predictor.update_endpoint(initial_instance_count=2, instance_type="ml.m5.large", wait=True)
        desc = sm.describe_endpoint(EndpointName=name)
        assert desc["EndpointStatus"] == "InService"
        assert desc["EndpointConfigName"] != name
        assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        hosts = {predictor.predict(b"x", initial_args={"ContentType": "text/plain"}) for _ in range(6)}
        assert {h.split(b"@")[-1] for h in hosts} == {b"AllTraffic-i1", b"AllTraffic-i2"}

        # batch: the same three stages over S3 input, output read back from S3
        rows = "".join(f"row-{i},{i * 3}\n" for i in range(40))
        (tmp_path / "rows.csv").write_text(rows)
        data = session.upload_data(str(tmp_path / "rows.csv"), key_prefix="batch/in")
        transformer = pipeline.transformer(
            instance_count=1,
            instance_type="ml.m5.large",
            output_path=f"s3://{bucket}/batch/out",
            strategy="SingleRecord",  # one request per row: every row names the three stages
            assemble_with="Line",
            accept="text/csv",
        )
        # transform() waits with logs=True by default, reading CloudWatch Logs, which inferpipe does not
        # serve (see the README): start it, then wait without logs
        transformer.transform(data, content_type="text/csv", split_type="Line", wait=False, logs=False)
        transformer.wait(logs=False)
        job = sm.describe_transform_job(TransformJobName=transformer.latest_transform_job.name)
        assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
        out = session.read_s3_file(bucket, "batch/out/rows.csv.out")
        expected = [f"row-{i},{i * 3}|stage1@transform-i1|stage2@transform-i1|stage3@transform-i1" for i in range(40)]
        assert out.splitlines() == expected

        predictor.delete_endpoint()  # the endpoint and its (new) config
        wait_gone(sm, name)
        with pytest.raises(sm.exceptions.ClientError):
            sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
        pipeline.delete_model()
        with pytest.raises(sm.exceptions.ClientError):
            sm.describe_model(ModelName=name)
    finally:
        teardown(sm, name)


def test_sdk_v3_core_resources_pipeline(
    daemon: DaemonHandle, sm: Any, s3_server: Any, echo_image: str, model_tarball: Path, tmp_path: Path
) -> None:
    model_data = s3_server.put(f"s3://{unique('sdk3')}/models/model.tar.gz", model_tarball)
    python = sdk_v3_python()
    creds = daemon.credentials
    # only the standard AWS environment points SDK v3 at the daemon: none of this process's AWS settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL_SAGEMAKER=daemon.url,
        AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=daemon.url,
        AWS_ACCESS_KEY_ID=creds.access_key_id,
        AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
        AWS_DEFAULT_REGION=creds.region,
    )
    name = unique("sdk3")
    try:
        run = subprocess.run(
            [
                str(python),
                str(HERE / "sdk_v3_flow.py"),
                name,
                echo_image,
                model_data,
                str(tmp_path / "result.json"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-4000:]
        result = json.loads((tmp_path / "result.json").read_text())
        assert result == {
            "body": "hello|stage1@AllTraffic-i1|stage2@AllTraffic-i1|stage3@AllTraffic-i1",
            "status": "InService",
        }
        for call in (sm.describe_endpoint, sm.describe_endpoint_config, sm.describe_model):
            with pytest.raises(sm.exceptions.ClientError):
                call(**{f"{call.__name__.removeprefix('describe_').title().replace('_', '')}Name": name})
    finally:
        teardown(sm, name)
