"""Host paths at the control plane (no Docker): model data and transform paths that name system trees,
sockets, FIFOs or devices are refused with a ValidationException that says why, and nothing is
stored; EnableNetworkIsolation is refused rather than silently ignored."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

IMAGE = "example.com/echo:1"
SYSTEM = "which inferpipe never reads or writes"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def specials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    d = tmp_path_factory.mktemp("specials")
    fifo = d / "model.tar.gz"
    os.mkfifo(fifo)
    sock_path = d / "engine.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    link = d / "etc-link"
    link.symlink_to("/etc")
    yield {"fifo": fifo, "socket": sock_path, "link": link, "dir": d}
    sock.close()


def refused(call: Any, **request: Any) -> str:
    with pytest.raises(ClientError) as err:
        call(**request)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(err.value.response["Error"]["Message"])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/", "ModelDataUrl / is the host's root directory, which inferpipe never reads or writes."),
        ("file:///etc", f"ModelDataUrl /etc is inside /etc, {SYSTEM}"),
        ("/etc/shadow", f"ModelDataUrl /etc/shadow is inside /etc, {SYSTEM}"),
        ("/var/run/docker.sock", f"is inside /run, {SYSTEM}"),
        ("/proc/self/environ", f"is inside /proc, {SYSTEM}"),
        ("/var/lib", f"ModelDataUrl /var/lib contains /var/lib/docker, {SYSTEM}"),
        ("fifo", "is a FIFO (named pipe): only a gzip compressed tar archive (.tar.gz) or a directory is accepted."),
        ("socket", "is a socket: only a gzip compressed tar archive (.tar.gz) or a directory is accepted."),
        ("link", f"(which resolves to /etc) is inside /etc, {SYSTEM}"),
    ],
)
def test_create_model_refuses_host_paths(sm: Any, specials: dict[str, Path], url: str, expected: str) -> None:
    if url in specials:
        url = str(specials[url])
    name = uniq("hostpath")
    message = refused(sm.create_model, ModelName=name, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url})
    assert expected in message, message
    assert sm.list_models(NameContains=name)["Models"] == []


def test_create_model_refuses_the_daemons_home(sm: Any, daemon: Any) -> None:
    for url in (str(daemon.home / "model-cache"), str(daemon.home.parent)):
        message = refused(
            sm.create_model, ModelName=uniq("home"), PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url}
        )
        assert str(daemon.home) in message and SYSTEM in message, message


def test_missing_and_ordinary_local_model_data_are_accepted(sm: Any, tmp_path: Path) -> None:
    """Existence is checked when an endpoint is created (as on AWS); a directory under /tmp is fine."""
    for url in (str(tmp_path / "later.tar.gz"), str(tmp_path), f"file://{tmp_path}"):
        sm.create_model(ModelName=uniq("ok"), PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url})


def test_network_isolation_is_refused_not_ignored(sm: Any) -> None:
    name = uniq("isolated")
    message = refused(sm.create_model, ModelName=name, PrimaryContainer={"Image": IMAGE}, EnableNetworkIsolation=True)
    assert message.startswith("EnableNetworkIsolation is not supported by inferpipe"), message
    assert sm.list_models(NameContains=name)["Models"] == []
    sm.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE}, EnableNetworkIsolation=False)
    variants = [{"VariantName": "v", "ModelName": name, "InitialInstanceCount": 1}]
    message = refused(
        sm.create_endpoint_config, EndpointConfigName=name, ProductionVariants=variants, EnableNetworkIsolation=True
    )
    assert message.startswith("EnableNetworkIsolation is not supported by inferpipe"), message


def _job(name: str, model: str, uri: str, out: str, data_type: str = "S3Prefix") -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri}}},
        "TransformOutput": {"S3OutputPath": out},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


@pytest.mark.parametrize(
    ("which", "uri", "out", "expected"),
    [
        ("input", "/etc", "OUT", f"TransformInput.DataSource.S3DataSource.S3Uri /etc is inside /etc, {SYSTEM}"),
        ("input", "/", "OUT", "S3Uri / is the host's root directory"),
        ("output", "IN", "/etc/cron.d", f"TransformOutput.S3OutputPath /etc/cron.d is inside /etc, {SYSTEM}"),
        ("output", "IN", "/", "TransformOutput.S3OutputPath / is the host's root directory"),
        ("output", "IN", "file:///sys/kernel", f"is inside /sys, {SYSTEM}"),
    ],
)
def test_create_transform_job_refuses_system_paths(
    sm: Any, tmp_path: Path, which: str, uri: str, out: str, expected: str
) -> None:
    model = uniq("tmodel")
    sm.create_model(ModelName=model, PrimaryContainer={"Image": IMAGE})
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("1\n")
    uri = uri.replace("IN", str(tmp_path / "in"))
    out = out.replace("OUT", str(tmp_path / "out"))
    name = uniq("tjob")
    message = refused(sm.create_transform_job, **_job(name, model, uri, out))
    assert expected in message, (which, message)
    assert sm.list_transform_jobs(NameContains=name)["TransformJobSummaries"] == []
