"""The TransformJob resource: CreateTransformJob's validation, the typed spec the engine runs, and
the Describe / List shapes. Design notes: docs/batch-transform.md."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from inferpipe.core.api.model import check_model_name
from inferpipe.core.api.validation import KMS_PATTERN, NAME_PATTERN, Checker, check_name
from inferpipe.core.batch.dataprocessing import DataProcessing
from inferpipe.core.batch.records import MULTI_RECORD, SINGLE_RECORD
from inferpipe.core.batch.state import TransformJobState, TransformJobStatus
from inferpipe.core.store import Record

KIND = "transform-job"
STATUSES = [s.value for s in TransformJobStatus]

DEFAULT_MAX_PAYLOAD_MB = 6
MAX_PAYLOAD_MB = 100
MAX_CONCURRENCY_X_PAYLOAD = 100
DEFAULT_INVOCATION_TIMEOUT = 600
DEFAULT_INVOCATION_RETRIES = 3
DEFAULT_MAX_CONCURRENT = 1
DEFAULT_BATCH_STRATEGY = MULTI_RECORD

BATCH_STRATEGIES = [MULTI_RECORD, SINGLE_RECORD]
S3_DATA_TYPES = ["ManifestFile", "S3Prefix", "AugmentedManifestFile", "Converse"]
COMPRESSION_TYPES = ["None", "Gzip"]
SPLIT_TYPES = ["None", "Line", "RecordIO", "TFRecord"]
ASSEMBLY_TYPES = ["None", "Line"]
JOIN_SOURCES = ["Input", "None"]
ENV_KEY_PATTERN = r"[a-zA-Z_][a-zA-Z0-9_]{0,1023}"
EXPERIMENT_NAME_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,119}"
AMI_VERSION_PATTERN = r"[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*"
MAX_ENV_ENTRIES = 16
MAX_ENV_VALUE = 10240

# TransformInstanceType, in the service model's order (116 values).
_FAMILIES = {
    "m4": "xlarge 2xlarge 4xlarge 10xlarge 16xlarge",
    "c4": "xlarge 2xlarge 4xlarge 8xlarge",
    "p2": "xlarge 8xlarge 16xlarge",
    "p3": "2xlarge 8xlarge 16xlarge",
    "c5": "xlarge 2xlarge 4xlarge 9xlarge 18xlarge",
    "m5": "large xlarge 2xlarge 4xlarge 12xlarge 24xlarge",
    "m6i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge",
    "c6i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge",
    "r6i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge",
    "m7i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    "c7i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    "r7i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    "g4dn": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "g5": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    "trn1": "2xlarge 32xlarge",
    "inf2": "xlarge 8xlarge 24xlarge 48xlarge",
    "g6": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    "g6e": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
}
INSTANCE_TYPES = tuple(f"ml.{family}.{size}" for family, sizes in _FAMILIES.items() for size in sizes.split())


def check_job_name(c: Checker, value: Any, path: str = "transformJobName") -> None:
    if c.string(value, path, min_len=1):
        check_name(c, value, path, NAME_PATTERN)


def validate_create_transform_job(req: dict[str, Any]) -> None:
    """Every member constraint at once, then the service rules (see ``Checker``)."""
    c = Checker()
    if c.required(req, "TransformJobName", "transformJobName"):
        check_job_name(c, req["TransformJobName"])
    if c.required(req, "ModelName", "modelName"):
        check_model_name(c, req["ModelName"])
    mct = req.get("MaxConcurrentTransforms")
    payload = req.get("MaxPayloadInMB")
    mct_ok = c.integer(mct, "maxConcurrentTransforms", minimum=0)
    payload_ok = c.integer(payload, "maxPayloadInMB", minimum=0, maximum=MAX_PAYLOAD_MB)
    c.string(req.get("BatchStrategy"), "batchStrategy", enum=BATCH_STRATEGIES)
    _check_client_config(c, req.get("ModelClientConfig"))
    _check_environment(c, req.get("Environment"))
    split, content_type = _check_input(c, req.get("TransformInput"))
    assemble, accept = _check_output(c, req.get("TransformOutput"))
    _check_resources(c, req.get("TransformResources"))
    dp = req.get("DataProcessing")
    if c.structure(dp, "dataProcessing") and dp is not None:
        c.string(dp.get("InputFilter"), "dataProcessing.inputFilter", max_len=63)
        c.string(dp.get("OutputFilter"), "dataProcessing.outputFilter", max_len=63)
        c.string(dp.get("JoinSource"), "dataProcessing.joinSource", enum=JOIN_SOURCES)
    capture = req.get("DataCaptureConfig")
    if c.structure(capture, "dataCaptureConfig") and capture is not None:
        if c.required(capture, "DestinationS3Uri", "dataCaptureConfig.destinationS3Uri"):
            c.string(capture["DestinationS3Uri"], "dataCaptureConfig.destinationS3Uri", max_len=1024)
        c.string(capture.get("KmsKeyId"), "dataCaptureConfig.kmsKeyId", max_len=2048, pattern=KMS_PATTERN)
        c.boolean(capture.get("GenerateInferenceId"), "dataCaptureConfig.generateInferenceId")
    experiment = req.get("ExperimentConfig")
    if c.structure(experiment, "experimentConfig") and experiment is not None:
        for key in ("ExperimentName", "TrialName", "TrialComponentDisplayName", "RunName"):
            c.string(
                experiment.get(key),
                f"experimentConfig.{key[:1].lower() + key[1:]}",
                min_len=1,
                max_len=120,
                pattern=EXPERIMENT_NAME_PATTERN,
            )
    c.tags(req.get("Tags"))

    # Service rules, reported once the members are well-formed.
    if mct_ok and payload_ok and mct:
        effective_payload = DEFAULT_MAX_PAYLOAD_MB if payload is None else payload
        if mct * effective_payload > MAX_CONCURRENCY_X_PAYLOAD:
            c.rule(
                f"MaxConcurrentTransforms ({mct}) multiplied by MaxPayloadInMB ({effective_payload}) must be less"
                f" than or equal to {MAX_CONCURRENCY_X_PAYLOAD}."
            )
    source = _dict(_dict(_dict(req.get("TransformInput")).get("DataSource")).get("S3DataSource"))
    if source.get("S3DataType") == "AugmentedManifestFile":
        c.rule("S3DataType AugmentedManifestFile is not compatible with batch transform: use S3Prefix or ManifestFile.")
    if source.get("S3DataType") == "Converse":
        c.rule("S3DataType Converse is not supported for batch transform: use S3Prefix or ManifestFile.")
    if isinstance(dp, dict) and all(isinstance(dp.get(k, ""), str) for k in ("InputFilter", "OutputFilter")):
        for problem in DataProcessing.from_api(dp).validate(content_type, accept, split, assemble):
            c.rule(problem.rstrip(".") + ".")
    c.raise_if_any()


def _check_client_config(c: Checker, value: Any) -> None:
    if c.structure(value, "modelClientConfig") and value is not None:
        c.integer(
            value.get("InvocationsTimeoutInSeconds"),
            "modelClientConfig.invocationsTimeoutInSeconds",
            minimum=1,
            maximum=3600,
        )
        c.integer(value.get("InvocationsMaxRetries"), "modelClientConfig.invocationsMaxRetries", minimum=0, maximum=3)


def _check_environment(c: Checker, env: Any) -> None:
    if env is None:
        return
    if not isinstance(env, dict):
        c.fail(env, "environment", "Member must be a map")
        return
    if len(env) > MAX_ENV_ENTRIES:
        c.fail(env, "environment", f"Member must have length less than or equal to {MAX_ENV_ENTRIES}")
    for key, value in env.items():
        if not _full(ENV_KEY_PATTERN, key):
            c.fail(
                key,
                "environment",
                "Map keys must satisfy constraint: [Member must satisfy regular expression pattern:"
                f" {ENV_KEY_PATTERN}]",
            )
        if not isinstance(value, str):
            c.fail(value, "environment", "Map value must satisfy constraint: [Member must be a string]")
        elif len(value) > MAX_ENV_VALUE:
            c.fail(
                value,
                "environment",
                f"Map value must satisfy constraint: [Member must have length less than or equal to {MAX_ENV_VALUE}]",
            )


def _full(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def _check_input(c: Checker, value: Any) -> tuple[str | None, str | None]:
    """Checks TransformInput; returns (SplitType, ContentType) for the DataProcessing rules."""
    path = "transformInput"
    if not c.required({"v": value}, "v", path) or not c.structure(value, path):
        return None, None
    if c.required(value, "DataSource", f"{path}.dataSource") and c.structure(value["DataSource"], f"{path}.dataSource"):
        ds = value["DataSource"]
        sp = f"{path}.dataSource.s3DataSource"
        if c.required(ds, "S3DataSource", sp) and c.structure(ds["S3DataSource"], sp):
            s3 = ds["S3DataSource"]
            if c.required(s3, "S3DataType", f"{sp}.s3DataType"):
                c.string(s3["S3DataType"], f"{sp}.s3DataType", enum=S3_DATA_TYPES)
            if c.required(s3, "S3Uri", f"{sp}.s3Uri"):
                c.string(s3["S3Uri"], f"{sp}.s3Uri", min_len=1, max_len=1024)
    c.string(value.get("ContentType"), f"{path}.contentType", max_len=256)
    c.string(value.get("CompressionType"), f"{path}.compressionType", enum=COMPRESSION_TYPES)
    c.string(value.get("SplitType"), f"{path}.splitType", enum=SPLIT_TYPES)
    return _str(value.get("SplitType")), _str(value.get("ContentType"))


def _check_output(c: Checker, value: Any) -> tuple[str | None, str | None]:
    """Checks TransformOutput; returns (AssembleWith, Accept) for the DataProcessing rules."""
    path = "transformOutput"
    if not c.required({"v": value}, "v", path) or not c.structure(value, path):
        return None, None
    if c.required(value, "S3OutputPath", f"{path}.s3OutputPath"):
        c.string(value["S3OutputPath"], f"{path}.s3OutputPath", min_len=1, max_len=1024)
    c.string(value.get("Accept"), f"{path}.accept", max_len=256)
    c.string(value.get("AssembleWith"), f"{path}.assembleWith", enum=ASSEMBLY_TYPES)
    c.string(value.get("KmsKeyId"), f"{path}.kmsKeyId", max_len=2048, pattern=KMS_PATTERN)
    return _str(value.get("AssembleWith")), _str(value.get("Accept"))


def _check_resources(c: Checker, value: Any) -> None:
    path = "transformResources"
    if not c.required({"v": value}, "v", path) or not c.structure(value, path):
        return
    if c.required(value, "InstanceType", f"{path}.instanceType"):
        c.string(value["InstanceType"], f"{path}.instanceType", enum=INSTANCE_TYPES)
    if c.required(value, "InstanceCount", f"{path}.instanceCount"):
        c.integer(value["InstanceCount"], f"{path}.instanceCount", minimum=1)
    c.string(value.get("VolumeKmsKeyId"), f"{path}.volumeKmsKeyId", max_len=2048, pattern=KMS_PATTERN)
    c.string(
        value.get("TransformAmiVersion"),
        f"{path}.transformAmiVersion",
        min_len=1,
        max_len=63,
        pattern=AMI_VERSION_PATTERN,
    )


def _dict(value: Any) -> dict[str, Any]:
    """A member that should be a structure, or {} when it is not (its own check reports that)."""
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


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
