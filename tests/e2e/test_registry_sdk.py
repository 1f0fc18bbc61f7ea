"""The SageMaker Python SDK (v2) against the daemon's model registry: ``PipelineModel.register``
creates a versioned package of the whole pipeline and ``ModelPackage(...).deploy`` serves it, on
real containers. Model data from file:// URLs: nothing goes through S3."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import boto3
from helpers import teardown, unique
from support import DaemonHandle, wait_endpoint

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
import sagemaker  # noqa: E402
from sagemaker.model import Model, ModelPackage  # noqa: E402
from sagemaker.pipeline import PipelineModel  # noqa: E402
from sagemaker.predictor import Predictor  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/inferpipe"


def sdk_session(daemon: DaemonHandle) -> Any:
    creds = daemon.credentials
    boto_session = boto3.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        region_name=creds.region,
    )
    # A default bucket named up front: the SDK would otherwise ask STS and S3 for one.
    return sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=daemon.client("sagemaker"),
        sagemaker_runtime_client=daemon.client("sagemaker-runtime"),
        default_bucket="inferpipe-unused",
    )


def model_tarball(directory: Path, text: str) -> str:
    """A model.tar.gz on this machine, as a file:// URL (the SDK registers no model without data)."""
    path = directory / f"{text}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("weights.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text.encode()))
    return f"file://{path}"


def test_pipeline_model_register_then_model_package_deploy(
    sm: Any, daemon: DaemonHandle, echo_image: str, tmp_path: Path
) -> None:
    session = sdk_session(daemon)
    group = unique("sdk-registry")
    name = unique("sdk-served")
    sm.create_model_package_group(ModelPackageGroupName=group)
    steps = [
        Model(
            image_uri=echo_image,
            model_data=model_tarball(tmp_path, tag),
            role=ROLE,
            env={"ECHO_TAG": tag},
            sagemaker_session=session,
        )
        for tag in ("featurize", "predict")
    ]
    pipeline = PipelineModel(models=steps, role=ROLE, sagemaker_session=session)
    pending = pipeline.register(
        content_types=["text/plain"],
        response_types=["text/plain"],
        inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"],
        model_package_group_name=group,
        description="registered by the SDK",
    )
    arn = pending.model_package_arn
    assert arn.endswith(f"/{group}/1")
    desc = sm.describe_model_package(ModelPackageName=arn)
    assert [c["Environment"]["ECHO_TAG"] for c in desc["InferenceSpecification"]["Containers"]] == [
        "featurize",
        "predict",
    ]
    assert desc["InferenceSpecification"]["SupportedTransformInstanceTypes"] == ["ml.m5.large"]
    assert all(c["ModelDataUrl"].startswith("file://") for c in desc["InferenceSpecification"]["Containers"])
    assert desc["ModelApprovalStatus"] == "PendingManualApproval"

    try:
        # The SDK approves a versioned package it deploys (UpdateModelPackage), then creates the
        # model from it: the approval lands in the event log like any other.
        package = ModelPackage(role=ROLE, model_package_arn=arn, sagemaker_session=session)
        package.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=name, wait=False)
        assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
        events = daemon.cli_json("events", "--kind", "model-package", "--name", f"{group}/1")["Events"]
        assert [e["Detail"]["to"] for e in events if e["Event"] == "ApprovalChanged"] == ["Approved"]
        wait_endpoint(sm, name, "InService", timeout=120)
        answer = Predictor(name, sagemaker_session=session).predict(b"x", initial_args={"ContentType": "text/plain"})
        text = answer.decode()
        assert text.startswith("x|featurize@") and "|predict@" in text
        config = sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
        )
        model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        assert [c["ModelPackageName"] for c in model["Containers"]] == [arn, arn]
    finally:
        teardown(sm, name)
