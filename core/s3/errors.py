"""One exception for every S3 failure, carrying S3's own error code and the URI it concerns, so a
FailureReason can name both."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .uri import S3Uri

# A HEAD has no body, so S3 answers it with a bare status; these are the codes a GET would have given.
_HEAD_CODES = {"404": "NoSuchKey", "NotFound": "NoSuchKey", "403": "AccessDenied", "Forbidden": "AccessDenied"}


class S3Error(Exception):
    def __init__(self, uri: S3Uri | str, code: str, message: str) -> None:
        self.uri = str(uri)
        self.code = code
        self.detail = message
        super().__init__(f"{self.uri}: {code}: {message}" if message else f"{self.uri}: {code}")

    @property
    def reason(self) -> str:
        """For a FailureReason: what failed, S3's code, and what to do next where it is known."""
        hint = _HINTS.get(self.code, "")
        return f"Could not access {self.uri}: {self.code} ({self.detail}).{hint}"


_HINTS = {
    "NoSuchKey": " Check the key exists (aws s3 ls) and the URI is spelt right.",
    "NoSuchBucket": " Check the bucket exists in the S3 endpoint inferpipe uses (INFERPIPE_S3_ENDPOINT_URL,"
    " AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).",
    "AccessDenied": " Grant the daemon's S3 credentials (INFERPIPE_S3_PROFILE or the standard AWS configuration)"
    " access to it.",
    "NoCredentials": " Give the daemon S3 credentials: INFERPIPE_S3_PROFILE, INFERPIPE_S3_ACCESS_KEY_ID with"
    " INFERPIPE_S3_SECRET_ACCESS_KEY, or the standard AWS environment variables and files.",
    "EndpointConnectionError": " Check the S3 endpoint is up and its URL is right.",
}


def from_boto(uri: S3Uri | str, exc: Exception, *, head: bool = False) -> S3Error:
    """The S3Error for an exception botocore raised while acting on `uri`."""
    if isinstance(exc, ClientError):
        error: dict[str, Any] = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        if head:
            code = _HEAD_CODES.get(code, code)
        message = str(error.get("Message") or "")
        if not message and code in _HEAD_CODES.values():
            message = {"NoSuchKey": "the object does not exist", "AccessDenied": "access denied"}[code]
        return S3Error(uri, code, message)
    if isinstance(exc, BotoCoreError):
        name = type(exc).__name__
        code = {"NoCredentialsError": "NoCredentials", "PartialCredentialsError": "NoCredentials"}.get(name, name)
        return S3Error(uri, code, str(exc))
    return S3Error(uri, type(exc).__name__, str(exc))
