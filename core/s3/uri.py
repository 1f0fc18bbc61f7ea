"""s3:// URIs: a bucket and a key (or key prefix)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# S3's own bucket naming rules (3 to 63 characters of lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit); a bad name is refused here instead of by the server.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class S3UriError(ValueError):
    """The text is not a usable s3:// URI; the message says why."""


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # "" for a whole bucket; a prefix for S3Prefix data

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, key: str) -> S3Uri:
        """The URI of `key` in the same bucket."""
        return S3Uri(self.bucket, key)


def is_s3_uri(text: str) -> bool:
    return text.startswith("s3://")


def parse_s3_uri(text: str) -> S3Uri:
    if not is_s3_uri(text):
        raise S3UriError(f"{text!r} is not an s3:// URI (expected s3://bucket/key).")
    rest = text[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise S3UriError(
            f"{text!r} does not name a valid bucket: a bucket name is 3 to 63 lowercase letters, digits, dots or"
            " hyphens, starting and ending with a letter or digit."
        )
    return S3Uri(bucket, key)
