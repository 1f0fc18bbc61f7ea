"""The SageMaker Model resource: CreateModel's validation and DescribeModel's shape."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.shapes import check_request
from inferpipe.core.api.validation import Checker
from inferpipe.core.containers.hostpaths import HostPathPolicy
from inferpipe.core.containers.modeldata import model_data_problem
from inferpipe.core.store import Record

MAX_MODEL_DATA_URL = 1024  # the Url shape's length, reported by the model's check
MAX_ENV_BYTES = 32 * 1024
MODEL_DATA_SCHEMES = ("s3://", "https://", "file://", "/")
# Docker can give a container no network at all, but then the daemon cannot reach its port; an
# --internal network keeps published ports from working and still lets containers reach the host
# through the bridge's gateway. Refusing is honest; accepting and ignoring the flag was not.
NETWORK_ISOLATION_UNSUPPORTED = (
    "EnableNetworkIsolation is not supported by inferpipe: it cannot keep a container from reaching the"
    " network while the daemon still reaches the container. Leave EnableNetworkIsolation out or set it to false."
)


def validate_create_model(req: dict[str, Any], host_paths: HostPathPolicy | None = None) -> None:
    """``host_paths``: when given, local ModelDataUrls that exist are checked against it (allowed
    roots, no sockets, FIFOs or devices); the daemon passes its policy."""
    c = Checker()
    check_request("CreateModel", req, c)
    primary = req.get("PrimaryContainer")
    containers = req.get("Containers")
    iec = req.get("InferenceExecutionConfig")
    mode = iec.get("Mode") if isinstance(iec, dict) else None
    if req.get("EnableNetworkIsolation") is True:
        c.rule(NETWORK_ISOLATION_UNSUPPORTED)

    if primary is not None and containers:
        c.rule("PrimaryContainer and Containers cannot both be specified: use Containers for a pipeline.")
    elif primary is None and not containers:
        c.rule("Either PrimaryContainer or Containers must be specified.")

    env_bytes = 0
    if isinstance(primary, dict):
        env_bytes += _check_container(c, primary, "primaryContainer")
    if isinstance(containers, list):
        for i, cont in enumerate(containers, 1):
            if isinstance(cont, dict):
                env_bytes += _check_container(c, cont, f"containers.{i}.member")
        dicts = [x for x in containers if isinstance(x, dict)]
        hostnames = [x.get("ContainerHostname") for x in dicts]
        named = [h for h in hostnames if h and isinstance(h, str)]  # a non-string is reported above
        if named and len(named) != len(dicts):
            c.rule(
                "ContainerHostname must be set on every container of the pipeline or on none of them"
                f" ({len(named)} of {len(dicts)} containers set it)."
            )
        duplicates = sorted({h for h in named if named.count(h) > 1})
        if duplicates:
            c.rule(f"ContainerHostname must be unique within a model: {', '.join(duplicates)} used more than once.")
        if len(dicts) > 1 and any(x.get("Mode") == "MultiModel" for x in dicts):
            c.rule("More than one container in MultiModel mode is not supported with inference pipeline.")
        if mode == "Direct" and len(named) != len(dicts):
            c.rule("InferenceExecutionConfig Mode Direct requires ContainerHostname on every container.")
    if primary is not None and mode == "Direct":
        c.rule("InferenceExecutionConfig Mode Direct requires Containers, not PrimaryContainer.")
    if host_paths is not None and not c.errors:
        for cont in [primary] if isinstance(primary, dict) else [x for x in containers or [] if isinstance(x, dict)]:
            url = cont.get("ModelDataUrl")
            problem = model_data_problem(url, host_paths) if isinstance(url, str) else None
            if problem:
                c.rule(problem)
    if env_bytes > MAX_ENV_BYTES:
        c.rule(
            f"The combined length of all Environment keys and values is {env_bytes} bytes, more than the"
            f" {MAX_ENV_BYTES // 1024} KB limit."
        )
    c.raise_if_any()


def _check_container(c: Checker, cont: dict[str, Any], path: str) -> int:
    """inferpipe's rules for one container; returns the bytes of its Environment."""
    if cont.get("Image") is None and cont.get("ModelPackageName") is None:
        c.rule(f"Image must be specified for the container at '{path}'.")
    url = cont.get("ModelDataUrl")
    # The model's Url pattern is S3 or HTTPS only; inferpipe also takes local data (see shapes).
    if isinstance(url, str) and len(url) <= MAX_MODEL_DATA_URL and not _model_data_url_ok(url):
        c.fail(
            url,
            f"{path}.modelDataUrl",
            "Member must be an s3://, https:// or file:// URL, or an absolute local path (a .tar.gz or a directory)",
        )
    _check_model_data_source(c, cont, path)
    env = cont.get("Environment")
    if not isinstance(env, dict):
        return 0
    return sum(len(k.encode()) + len(v.encode()) for k, v in env.items() if isinstance(v, str))


def _check_model_data_source(c: Checker, cont: dict[str, Any], path: str) -> None:
    source = cont.get("ModelDataSource")
    if not isinstance(source, dict):
        return
    if cont.get("ModelDataUrl") is not None:
        c.rule(f"ModelDataUrl and ModelDataSource cannot both be specified for the container at '{path}'.")
    s3 = source.get("S3DataSource")
    if not isinstance(s3, dict):
        return  # the model's check reports a missing or mistyped S3DataSource
    uri, data_type, compression = s3.get("S3Uri"), s3.get("S3DataType"), s3.get("CompressionType")
    where = f"{path}.modelDataSource.s3DataSource"
    if isinstance(uri, str) and not uri.startswith("s3://"):
        c.rule(f"S3Uri at '{where}' must be an s3:// URI: inferpipe reads ModelDataSource from S3 only.")
    if data_type == "S3Prefix" and isinstance(uri, str) and not uri.endswith("/"):
        c.rule(f"S3Uri at '{where}' must end with '/' when S3DataType is S3Prefix (it names a key prefix).")
    if data_type == "S3Prefix" and compression == "Gzip":
        c.rule(f"CompressionType Gzip at '{where}' requires S3DataType S3Object: a prefix is copied uncompressed.")
    for member in ("ManifestS3Uri", "HubAccessConfig"):
        if s3.get(member) is not None:
            c.rule(f"{member} at '{where}' is not supported by inferpipe: leave it out.")


# A model package's containers follow the same rules (api/model_package.py).
check_container = _check_container


def _model_data_url_ok(url: str) -> bool:
    if not url.startswith(MODEL_DATA_SCHEMES):
        return False
    if url.startswith("file://"):
        # file:///abs/path (or file://localhost/abs/path); file://relative/x would name a host.
        return url[len("file://") :].removeprefix("localhost").startswith("/")
    return True


def names_package(req: dict[str, Any]) -> bool:
    """Whether a CreateModel request takes any container from a model package."""
    primary = req.get("PrimaryContainer")
    containers = req.get("Containers")
    refs = [primary] if isinstance(primary, dict) else []
    refs += [x for x in containers if isinstance(x, dict)] if isinstance(containers, list) else []
    return any(x.get("ModelPackageName") is not None for x in refs)


def describe(rec: Record) -> dict[str, Any]:
    body = {k: v for k, v in rec.spec.items() if k != "Tags"}
    body["ModelArn"] = rec.arn
    body["CreationTime"] = rec.created
    return body


def summary(rec: Record) -> dict[str, Any]:
    return {"ModelName": rec.name, "ModelArn": rec.arn, "CreationTime": rec.created}
