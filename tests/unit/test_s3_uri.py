from __future__ import annotations

import pytest

from inferpipe.core.config import ConfigError, Settings
from inferpipe.core.s3.errors import S3Error
from inferpipe.core.s3.uri import S3Uri, S3UriError, parse_s3_uri


def test_parses_bucket_and_key() -> None:
    assert parse_s3_uri("s3://my-bucket/a/b/model.tar.gz") == S3Uri("my-bucket", "a/b/model.tar.gz")
    assert parse_s3_uri("s3://my-bucket") == S3Uri("my-bucket", "")
    assert parse_s3_uri("s3://my-bucket/prefix/") == S3Uri("my-bucket", "prefix/")
    assert str(S3Uri("b-1", "k")) == "s3://b-1/k"


@pytest.mark.parametrize("text", ["https://x/y", "s3://", "s3://ab/k", "s3://Upper/k", "s3://-bad/k", "s3:/b/k"])
def test_refuses_what_is_not_a_bucket_uri(text: str) -> None:
    with pytest.raises(S3UriError, match="s3://"):
        parse_s3_uri(text)


def test_reason_names_uri_code_and_next_step() -> None:
    reason = S3Error("s3://b-1/k", "NoSuchKey", "The specified key does not exist.").reason
    assert "s3://b-1/k" in reason and "NoSuchKey" in reason and "aws s3 ls" in reason


def test_s3_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INFERPIPE_S3_ACCESS_KEY_ID", "INFERPIPE_S3_SECRET_ACCESS_KEY", "INFERPIPE_S3_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert Settings.from_env().s3_part_size == 8 * 1024 * 1024
    monkeypatch.setenv("INFERPIPE_S3_PART_SIZE", "16m")
    assert Settings.from_env().s3_part_size == 16 * 1024 * 1024
    monkeypatch.setenv("INFERPIPE_S3_PART_SIZE", "1m")
    with pytest.raises(ConfigError, match="5 MiB"):
        Settings.from_env()
    monkeypatch.delenv("INFERPIPE_S3_PART_SIZE")
    monkeypatch.setenv("INFERPIPE_S3_ACCESS_KEY_ID", "AKIDEXAMPLE")
    with pytest.raises(ConfigError, match="INFERPIPE_S3_SECRET_ACCESS_KEY"):
        Settings.from_env()
    monkeypatch.setenv("INFERPIPE_S3_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("INFERPIPE_S3_PROFILE", "p")
    with pytest.raises(ConfigError, match="not both"):
        Settings.from_env()
