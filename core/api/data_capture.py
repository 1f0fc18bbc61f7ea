"""DataCaptureConfig's service rules beyond botocore's shapes: the destination is an s3:// URI naming
a valid bucket, or a local directory the daemon may write (file:// or an absolute path), checked
before anything is stored."""

from __future__ import annotations

from typing import Any

from inferpipe.core.api.validation import Checker
from inferpipe.core.capture.spec import DestinationRefused, destination
from inferpipe.core.containers.hostpaths import HostPathPolicy, default_policy


def check_data_capture(config: Any, c: Checker, host_paths: HostPathPolicy | None) -> None:
    if not isinstance(config, dict) or not isinstance(config.get("DestinationS3Uri"), str):
        return  # shapes.py reports a missing or mistyped member
    try:
        destination(config["DestinationS3Uri"], "DataCaptureConfig.DestinationS3Uri", host_paths or default_policy())
    except DestinationRefused as exc:
        c.rule(str(exc))
