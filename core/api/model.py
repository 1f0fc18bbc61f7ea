"""The SageMaker Model resource: CreateModel's validation and DescribeModel's shape."""

from __future__ import annotations

import re
from typing import Any

from inferpipe.core.api.validation import (
    ENV_KEY_PATTERN,
    IMAGE_PATTERN,
    MODEL_NAME_PATTERN,
    NAME_PATTERN,
    ROLE_ARN_PATTERN,
    Checker,
)
from inferpipe.core.containers.hostpaths import HostPathPolicy
from inferpipe.core.containers.modeldata import model_data_problem
from inferpipe.core.store import Record

MAX_CONTAINERS = 15
MAX_ENV_ENTRIES = 100
MAX_ENV_BYTES = 32 * 1024
MODEL_DATA_SCHEMES = ("s3://", "https://", "file://", "/")
# Docker can give a container no network at all, but then the daemon cannot reach its port; an
# --internal network keeps published ports from working and still lets containers reach the host
# through the bridge's gateway. Refusing is honest; accepting and ignoring the flag was not.
NETWORK_ISOLATION_UNSUPPORTED = (
    "EnableNetworkIsolation is not supported by inferpipe: it cannot keep a container from reaching the"
    " network while the daemon still reaches the container. Leave EnableNetworkIsolation out or set it to false."
)


def check_model_name(c: Checker, value: Any, path: str = "modelName") -> None:
    c.string(value, path, max_len=63, pattern=MODEL_NAME_PATTERN)


def validate_create_model(req: dict[str, Any], host_paths: HostPathPolicy | None = None) -> None:
    """``host_paths``: when given, local ModelDataUrls that exist are checked against it (allowed
    roots, no sockets, FIFOs or devices); the daemon passes its policy."""
    c = Checker()
    if c.required(req, "ModelName", "modelName"):
        check_model_name(c, req["ModelName"])
    primary = req.get("PrimaryContainer")
    containers = req.get("Containers")
    c.structure(primary, "primaryContainer")
    c.sequence(containers, "containers", max_len=MAX_CONTAINERS)
    mode = None
    iec = req.get("InferenceExecutionConfig")
    if (
        c.structure(iec, "inferenceExecutionConfig")
        and iec is not None
        and c.required(iec, "Mode", "inferenceExecutionConfig.mode")
    ):
        c.string(iec["Mode"], "inferenceExecutionConfig.mode", enum=["Serial", "Direct"])
        mode = iec["Mode"]
    c.string(req.get("ExecutionRoleArn"), "executionRoleArn", min_len=20, max_len=2048, pattern=ROLE_ARN_PATTERN)
    c.boolean(req.get("EnableNetworkIsolation"), "enableNetworkIsolation")
    check_vpc(c, req.get("VpcConfig"))
    c.tags(req.get("Tags"))
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
            if c.structure(cont, f"containers.{i}.member") and cont is not None:
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
    c.string(cont.get("ContainerHostname"), f"{path}.containerHostname", max_len=63, pattern=NAME_PATTERN)
    if cont.get("Image") is None and cont.get("ModelPackageName") is None:
        c.rule(f"Image must be specified for the container at '{path}'.")
    c.string(cont.get("Image"), f"{path}.image", max_len=255, pattern=IMAGE_PATTERN)
    if cont.get("ModelPackageName") is not None:
        c.rule(f"ModelPackageName at '{path}' is not supported by inferpipe: give an Image instead.")
    c.string(cont.get("Mode"), f"{path}.mode", enum=["SingleModel", "MultiModel"])
    image_config = cont.get("ImageConfig")
    if c.structure(image_config, f"{path}.imageConfig") and image_config is not None:
        ip = f"{path}.imageConfig"
        if c.required(image_config, "RepositoryAccessMode", f"{ip}.repositoryAccessMode"):
            c.string(image_config["RepositoryAccessMode"], f"{ip}.repositoryAccessMode", enum=["Platform", "Vpc"])
        auth = image_config.get("RepositoryAuthConfig")
        if c.structure(auth, f"{ip}.repositoryAuthConfig") and auth is not None:
            ap = f"{ip}.repositoryAuthConfig.repositoryCredentialsProviderArn"
            if c.required(auth, "RepositoryCredentialsProviderArn", ap):
                c.string(auth["RepositoryCredentialsProviderArn"], ap, min_len=1, max_len=2048)
    mmc = cont.get("MultiModelConfig")
    if c.structure(mmc, f"{path}.multiModelConfig") and mmc is not None:
        c.string(
            mmc.get("ModelCacheSetting"), f"{path}.multiModelConfig.modelCacheSetting", enum=["Enabled", "Disabled"]
        )
    url = cont.get("ModelDataUrl")
    if c.string(url, f"{path}.modelDataUrl", max_len=1024) and url is not None and not _model_data_url_ok(url):
        c.fail(
            url,
            f"{path}.modelDataUrl",
            "Member must be an s3://, https:// or file:// URL, or an absolute local path (a .tar.gz or a directory)",
        )
    env = cont.get("Environment")
    if env is None:
        return 0
    epath = f"{path}.environment"
    if not isinstance(env, dict):
        c.fail(env, epath, "Member must be a map")
        return 0
    if len(env) > MAX_ENV_ENTRIES:
        c.fail(env, epath, f"Member must have length less than or equal to {MAX_ENV_ENTRIES}")
    # As the service does for maps: one violation per map for its keys and one for its values,
    # each listing the constraints some key (value) breaks, with the whole map as the value.
    key_constraints: list[str] = []
    value_constraints: list[str] = []
    total = 0
    for key, value in env.items():
        if len(key) > 1024:
            _add(key_constraints, "Member must have length less than or equal to 1024")
        if re.fullmatch(ENV_KEY_PATTERN, key) is None:
            _add(key_constraints, f"Member must satisfy regular expression pattern: {ENV_KEY_PATTERN}")
        if not isinstance(value, str):
            _add(value_constraints, "Member must be a string")
            continue
        if len(value) > 1024:
            _add(value_constraints, "Member must have length less than or equal to 1024")
        total += len(key.encode()) + len(value.encode())
    if key_constraints:
        c.fail(env, epath, f"Map keys must satisfy constraint: [{', '.join(key_constraints)}]")
    if value_constraints:
        c.fail(env, epath, f"Map value must satisfy constraint: [{', '.join(value_constraints)}]")
    return total


def _model_data_url_ok(url: str) -> bool:
    if not url.startswith(MODEL_DATA_SCHEMES):
        return False
    if url.startswith("file://"):
        # file:///abs/path (or file://localhost/abs/path); file://relative/x would name a host.
        return url[len("file://") :].removeprefix("localhost").startswith("/")
    return True


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def check_vpc(c: Checker, vpc: Any) -> None:
    if not c.structure(vpc, "vpcConfig") or vpc is None:
        return
    for key, path, hi in (("SecurityGroupIds", "vpcConfig.securityGroupIds", 5), ("Subnets", "vpcConfig.subnets", 16)):
        if c.required(vpc, key, path) and c.sequence(vpc[key], path, min_len=1, max_len=hi):
            for i, item in enumerate(vpc[key], 1):
                c.string(item, f"{path}.{i}.member", max_len=32, pattern=r"[-0-9a-zA-Z]+")


def describe(rec: Record) -> dict[str, Any]:
    body = {k: v for k, v in rec.spec.items() if k != "Tags"}
    body["ModelArn"] = rec.arn
    body["CreationTime"] = rec.created
    return body


def summary(rec: Record) -> dict[str, Any]:
    return {"ModelName": rec.name, "ModelArn": rec.arn, "CreationTime": rec.created}
