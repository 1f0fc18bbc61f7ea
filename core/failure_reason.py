"""A resource's FailureReason, as DescribeEndpoint and DescribeTransformJob return it.

SageMaker caps the field at 1024 characters, and boto3 users see it verbatim, so every reason the
engine stores goes through here: an optional prefix naming the kind of failure (``ClientError``,
``InternalServerError``, ...) and a cut that shows text was dropped, never one mid-word with no sign.
"""

from __future__ import annotations

MAX_FAILURE_REASON = 1024
ELLIPSIS = "..."


def failure_reason(text: str, *, prefix: str = "") -> str:
    """``text`` (after ``prefix: `` when one is given) cut to SageMaker's 1024 characters."""
    reason = f"{prefix}: {text}" if prefix else text
    if len(reason) > MAX_FAILURE_REASON:
        reason = reason[: MAX_FAILURE_REASON - len(ELLIPSIS)] + ELLIPSIS
    return reason
