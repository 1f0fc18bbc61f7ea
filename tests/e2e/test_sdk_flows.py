"""The SageMaker Python SDK's own flows against the daemon, unmodified: SDK v2 (PyPI ``sagemaker`` < 3,
from the test extra) in this process, SDK v3's ``sagemaker.core`` resources in a venv of their own
(sdk_v3_env.py) through sdk_v3_flow.py in a subprocess. The three stages are the echo test image,
so each answer names the containers it went through, in order."""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers import teardown, unique
from sdk_v3_env import sdk_v3_python
from support import DaemonHandle, wait_gone

HERE = Path(__file__).resolve().parent


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "weights.txt").write_text("w")
    return d


def sdk_v2_session(daemon: DaemonHandle) -> Any:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sagemaker
    creds = daemon.credentials
    boto_session = boto3.Session(
        aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key, region_name=creds.region
    )
    return sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=daemon.client("sagemaker"),
        sagemaker_runtime_client=daemon.client("sagemaker-runtime"),
    )


def test_sdk_v2_pipeline_model_deploy_predict_update_delete(
    daemon: DaemonHandle, sm: Any, echo_image: str, model_dir: Path
) -> None:
    from sagemaker.model import Model
    from sagemaker.pipeline import PipelineModel
    from sagemaker.predictor import Predictor

    session = sdk_v2_session(daemon)
    name = unique("sdk2")
    role = "arn:aws:iam::123456789012:role/inferpipe"
    stages = [
        Model(
            image_uri=echo_image,
            model_data=f"file://{model_dir}/",
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
    daemon: DaemonHandle, sm: Any, echo_image: str, model_dir: Path, tmp_path: Path
) -> None:
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
                f"file://{model_dir}/",
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
