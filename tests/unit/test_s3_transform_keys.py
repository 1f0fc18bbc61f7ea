"""Where a transform job's S3 inputs come from and where their outputs go (core/batch/s3data.py):
the key layout, with a listing stand-in; the real S3 paths run against moto in
tests/e2e/test_s3_transform.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inferpipe.core.batch.inputs import InputError
from inferpipe.core.batch.s3data import list_inputs, output_uri, parse
from inferpipe.core.errors import ValidationException
from inferpipe.core.s3.objects import ObjectInfo
from inferpipe.core.s3.uri import S3Uri


class Listing:
    """Answers list_prefix as S3 does: every key starting with the prefix, in key order."""

    def __init__(self, *keys: str) -> None:
        self.keys = sorted(keys)

    def list_prefix(self, uri: S3Uri, page_size: int = 1000) -> Iterator[ObjectInfo]:
        for key in self.keys:
            if key.startswith(uri.key):
                yield ObjectInfo(uri.child(key), 0 if key.endswith("/") else 10, "etag")


def relatives(listing: Listing, uri: str) -> list[str]:
    return [f.relative for f in list_inputs(listing, uri, "S3Prefix")]  # type: ignore[arg-type]


def test_keys_are_relative_to_the_prefix_up_to_its_last_slash() -> None:
    listing = Listing("in/", "in/a.csv", "in/sub/b.csv", "in/part-1.csv", "inside/x.csv", "other/y.csv")
    assert relatives(listing, "s3://bkt/in/") == ["a.csv", "part-1.csv", "sub/b.csv"]  # the folder marker skipped
    assert relatives(listing, "s3://bkt/in/part-") == ["part-1.csv"]
    assert relatives(listing, "s3://bkt/in") == ["in/a.csv", "in/part-1.csv", "in/sub/b.csv", "inside/x.csv"]
    assert relatives(listing, "s3://bkt/in/sub/b.csv") == ["b.csv"]


def test_a_key_that_would_climb_out_of_a_local_output_fails_the_job() -> None:
    with pytest.raises(InputError, match=r"\.\."):
        relatives(Listing("in/../../etc/x"), "s3://bkt/in/")


def test_nothing_under_the_prefix_fails_the_job_as_aws_words_it() -> None:
    with pytest.raises(InputError, match="No S3 objects found under S3 URL"):
        relatives(Listing("other/a.csv"), "s3://bkt/in/")


def test_output_keys_are_the_input_keys_plus_out_under_the_output_path() -> None:
    assert str(output_uri(S3Uri("o", "results"), "sub/a.csv")) == "s3://o/results/sub/a.csv.out"
    assert str(output_uri(S3Uri("o", "results/"), "a.csv")) == "s3://o/results/a.csv.out"
    assert str(output_uri(S3Uri("o", ""), "a.csv")) == "s3://o/a.csv.out"


def test_a_bad_uri_is_a_validation_error_naming_the_member() -> None:
    with pytest.raises(ValidationException, match="S3OutputPath"):
        parse("s3://Not_A_Bucket/x", "TransformOutput.S3OutputPath")


class OneObject(Listing):
    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def iter_object(self, uri: S3Uri) -> tuple[ObjectInfo, Iterator[bytes]]:
        return ObjectInfo(uri, len(self.body), "etag"), iter([self.body])


def test_a_manifest_larger_than_the_setting_fails_the_job_naming_it() -> None:
    manifest = b'[{"prefix": "s3://bkt/in/"}, "a.csv"]'
    with pytest.raises(InputError, match="INFERPIPE_MAX_MANIFEST_BYTES"):
        list_inputs(OneObject(manifest), "s3://bkt/m.json", "ManifestFile", len(manifest) - 1)  # type: ignore[arg-type]


def test_a_manifest_on_s3_may_not_name_host_files() -> None:
    manifest = b'[{"prefix": "file:///etc/"}, "passwd"]'
    with pytest.raises(InputError, match="must be an s3:// URI"):
        list_inputs(OneObject(manifest), "s3://bkt/m.json", "ManifestFile")  # type: ignore[arg-type]
