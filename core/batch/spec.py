"""The TransformJob resource: the typed spec the engine runs, its limits and defaults, and the
Describe / List shapes (the request is checked at the edge, in api/transform_job.py). Design
notes: docs/batch-transform.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inferpipe.core.batch.dataprocessing import DataProcessing
from inferpipe.core.batch.records import MULTI_RECORD, SINGLE_RECORD
from inferpipe.core.batch.state import TransformJobState
from inferpipe.core.store import Record

KIND = "transform-job"

DEFAULT_MAX_PAYLOAD_MB = 6
MAX_PAYLOAD_MB = 100
MAX_CONCURRENCY_X_PAYLOAD = 100
DEFAULT_INVOCATION_TIMEOUT = 600
DEFAULT_INVOCATION_RETRIES = 3
DEFAULT_MAX_CONCURRENT = 1
DEFAULT_BATCH_STRATEGY = MULTI_RECORD


@dataclass(frozen=True)
class TransformSpec:
    """A validated CreateTransformJob request, as the engine consumes it. ``None`` means "not given":
    the container's /execution-parameters, then the defaults, decide, as AWS documents."""

    name: str
    model_name: str
    data_type: str
    uri: str
    output_path: str
    instance_count: int
    instance_type: str
    max_concurrent: int | None = None
    max_payload_mb: int | None = None
    batch_strategy: str | None = None
    content_type: str | None = None
    compression: str = "None"
    split_type: str = "None"
    accept: str | None = None
    assemble_with: str = "None"
    timeout: int = DEFAULT_INVOCATION_TIMEOUT
    retries: int = DEFAULT_INVOCATION_RETRIES
    environment: dict[str, str] = field(default_factory=dict)
    data_processing: DataProcessing = field(default_factory=DataProcessing)
    # DataCaptureConfig: where the job's input and output manifests go, checked like S3OutputPath.
    capture_destination: str | None = None
    generate_inference_id: bool = False

    @classmethod
    def from_api(cls, req: dict[str, Any]) -> TransformSpec:
        tin = req["TransformInput"]
        s3 = tin["DataSource"]["S3DataSource"]
        tout = req["TransformOutput"]
        res = req["TransformResources"]
        client = req.get("ModelClientConfig") or {}
        return cls(
            name=req["TransformJobName"],
            model_name=req["ModelName"],
            data_type=s3["S3DataType"],
            uri=s3["S3Uri"],
            output_path=tout["S3OutputPath"],
            instance_count=int(res["InstanceCount"]),
            instance_type=res["InstanceType"],
            max_concurrent=req.get("MaxConcurrentTransforms") or None,
            max_payload_mb=req.get("MaxPayloadInMB"),
            batch_strategy=req.get("BatchStrategy"),
            content_type=tin.get("ContentType"),
            compression=tin.get("CompressionType") or "None",
            split_type=tin.get("SplitType") or "None",
            accept=tout.get("Accept"),
            assemble_with=tout.get("AssembleWith") or "None",
            timeout=int(client.get("InvocationsTimeoutInSeconds") or DEFAULT_INVOCATION_TIMEOUT),
            retries=int(
                DEFAULT_INVOCATION_RETRIES
                if client.get("InvocationsMaxRetries") is None
                else client["InvocationsMaxRetries"]
            ),
            environment=dict(req.get("Environment") or {}),
            data_processing=DataProcessing.from_api(req.get("DataProcessing")),
            capture_destination=(req.get("DataCaptureConfig") or {}).get("DestinationS3Uri"),
            generate_inference_id=bool((req.get("DataCaptureConfig") or {}).get("GenerateInferenceId")),
        )

    def container_env(self) -> dict[str, str]:
        """What every container of the chain gets on top of its model environment: the job's
        Environment, SAGEMAKER_BATCH, and the three batch settings only when the call set them."""
        env = dict(self.environment)
        env["SAGEMAKER_BATCH"] = "true"
        if self.max_payload_mb is not None:
            env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(self.max_payload_mb)
        if self.batch_strategy:
            env["SAGEMAKER_BATCH_STRATEGY"] = (
                "SINGLE_RECORD" if self.batch_strategy == SINGLE_RECORD else "MULTI_RECORD"
            )
        if self.max_concurrent:
            env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(self.max_concurrent)
        return env


# Describe / List ---------------------------------------------------------------------------------
_ECHOED = (
    "ModelName",
    "MaxConcurrentTransforms",
    "ModelClientConfig",
    "MaxPayloadInMB",
    "BatchStrategy",
    "Environment",
    "TransformInput",
    "TransformOutput",
    "DataCaptureConfig",
    "TransformResources",
    "DataProcessing",
    "ExperimentConfig",
)


def describe(rec: Record, progress: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TransformJobName": rec.name,
        "TransformJobArn": rec.arn,
        "TransformJobStatus": rec.status,
    }
    if rec.failure_reason:
        out["FailureReason"] = rec.failure_reason
    for key in _ECHOED:
        if rec.spec.get(key) is not None:
            out[key] = rec.spec[key]
    out["CreationTime"] = rec.created
    state = TransformJobState.from_json(rec.state)
    if state.start_time:
        out["TransformStartTime"] = state.start_time
    if state.end_time:
        out["TransformEndTime"] = state.end_time
    out["LastModifiedTime"] = rec.modified
    # inferpipe-only (boto3 ignores members its model does not know): live progress, and the batch
    # settings in effect after /execution-parameters and the defaults.
    if progress:
        out["InferpipeProgress"] = progress
    if state.effective:
        out["InferpipeExecutionParameters"] = state.effective
    return out


def summary(rec: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TransformJobName": rec.name,
        "TransformJobArn": rec.arn,
        "CreationTime": rec.created,
    }
    end_time = TransformJobState.from_json(rec.state).end_time
    if end_time:
        out["TransformEndTime"] = end_time
    out["LastModifiedTime"] = rec.modified
    out["TransformJobStatus"] = rec.status
    if rec.failure_reason:
        out["FailureReason"] = rec.failure_reason
    return out
