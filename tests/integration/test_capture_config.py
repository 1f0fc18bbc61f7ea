"""DataCaptureConfig at the control plane: a local destination (made absolute by the CLI), refused
when it is S3 or a path the daemon may not write, with nothing stored; Describe's capture summary."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

EXE = str(Path(sys.executable).parent / "inferpipe")


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def model(sm: Any) -> str:
    name = uniq("cap-model")
    sm.create_model(ModelName=name, Containers=[{"Image": "inferpipe-test/echo:1"}])
    return name


def variant(model_name: str) -> list[dict[str, Any]]:
    return [{"VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": 1}]


def capture(dest: str) -> dict[str, Any]:
    return {"InitialSamplingPercentage": 50, "DestinationS3Uri": dest, "CaptureOptions": [{"CaptureMode": "Input"}]}


@pytest.mark.parametrize(
    ("dest", "says"),
    [
        ("s3://bucket/capture", "inferpipe writes captured data to a local directory"),
        ("file://relative/capture", "must be a file:// URL with an absolute path"),
        ("/etc/inferpipe-capture", "is inside /etc, which inferpipe never reads or writes"),
    ],
)
def test_unwritable_destination_is_refused_and_nothing_stored(sm: Any, dest: str, says: str) -> None:
    name = uniq("cap-bad")
    with pytest.raises(sm.exceptions.ClientError) as err:
        sm.create_endpoint_config(
            EndpointConfigName=name, ProductionVariants=variant(model(sm)), DataCaptureConfig=capture(dest)
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert says in err.value.response["Error"]["Message"]
    assert "DataCaptureConfig.DestinationS3Uri" in err.value.response["Error"]["Message"]
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_endpoint_config(EndpointConfigName=name)


def test_cli_makes_a_relative_destination_absolute(daemon: Any, sm: Any, tmp_path: Path) -> None:
    name, m = uniq("cap-cli"), model(sm)
    result = subprocess.run(
        [
            EXE,
            "create-endpoint-config",
            "--endpoint-config-name",
            name,
            "--variant",
            f"name=AllTraffic,model={m},instances=1",
            "--data-capture-config",
            json.dumps(capture("captured/")),
        ],
        env=daemon.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    desc = sm.describe_endpoint_config(EndpointConfigName=name)
    assert desc["DataCaptureConfig"]["DestinationS3Uri"] == f"{tmp_path.resolve()}/captured/"
