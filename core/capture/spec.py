"""A DataCaptureConfig, typed: what the serving path needs of it, read from the stored endpoint
config (the API's shape, validated at the wire edge by core/api/data_capture.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from inferpipe.core.capture.record import Encodings, media_type
from inferpipe.core.containers.hostpaths import HostPathPolicy, PathRefused

LOCAL_SCHEMES = ("file://", "/")


class DestinationRefused(ValueError):
    """The destination cannot be written; the message says why and what to do."""


def destination_path(uri: str, member: str, policy: HostPathPolicy) -> Path:
    """The resolved local directory a DestinationS3Uri names (file:///abs or /abs), checked against
    the allowed roots; DestinationRefused otherwise."""
    if not uri.startswith(LOCAL_SCHEMES):
        raise DestinationRefused(
            f"{member} {uri!r} cannot be written: inferpipe writes captured data to a local directory. Give an"
            " absolute path (/data/capture) or a file:// URL (file:///data/capture)."
        )
    text = unquote(uri[len("file://") :]) if uri.startswith("file://") else uri
    text = text.removeprefix("localhost") if text.startswith("localhost/") else text
    if not text.startswith("/"):
        raise DestinationRefused(
            f"{member} {uri!r} must be a file:// URL with an absolute path (file:///data/capture): the daemon"
            " does not share your working directory."
        )
    try:
        return policy.check(Path(text), member)
    except PathRefused as exc:
        raise DestinationRefused(str(exc)) from None


@dataclass(frozen=True)
class CaptureSpec:
    destination: Path
    sampling_percentage: int
    capture_input: bool
    capture_output: bool
    encodings: Encodings

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: HostPathPolicy) -> CaptureSpec | None:
        """The capture an endpoint config asks for; None when it asks for none. DestinationRefused
        when its destination is no longer allowed (the allowed roots changed since it was created)."""
        dc = config.get("DataCaptureConfig")
        if not dc or dc.get("EnableCapture", True) is False:
            return None
        modes = {o.get("CaptureMode") for o in dc.get("CaptureOptions") or []}
        header = dc.get("CaptureContentTypeHeader") or {}
        return cls(
            destination=destination_path(dc["DestinationS3Uri"], "DataCaptureConfig.DestinationS3Uri", policy),
            sampling_percentage=int(dc.get("InitialSamplingPercentage", 0)),
            capture_input=bool(modes & {"Input", "InputAndOutput"}),
            capture_output=bool(modes & {"Output", "InputAndOutput"}),
            encodings=Encodings(
                csv=frozenset(media_type(t) for t in header.get("CsvContentTypes") or []),
                json=frozenset(media_type(t) for t in header.get("JsonContentTypes") or []),
            ),
        )
