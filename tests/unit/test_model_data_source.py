"""CreateModel's rules for ModelDataSource.S3DataSource, and the typed spec the engine gets."""

from __future__ import annotations

from typing import Any

import pytest

from inferpipe.core.api.model import validate_create_model
from inferpipe.core.errors import ValidationException
from inferpipe.core.spec import ModelSpec, S3ModelData


def _model(source: dict[str, Any], **container: Any) -> dict[str, Any]:
    return {
        "ModelName": "m",
        "ExecutionRoleArn": "arn:aws:iam::000000000000:role/r",
        "PrimaryContainer": {"Image": "img:1", "ModelDataSource": {"S3DataSource": source}, **container},
    }


def test_accepted_forms_become_typed_specs() -> None:
    for data_type, compression, uri in [
        ("S3Object", "Gzip", "s3://b-1/m/model.tar.gz"),
        ("S3Object", "None", "s3://b-1/m/model.bin"),
        ("S3Prefix", "None", "s3://b-1/m/"),
    ]:
        req = _model({"S3Uri": uri, "S3DataType": data_type, "CompressionType": compression})
        validate_create_model(req)
        spec = ModelSpec.from_api(req).containers[0]
        assert spec.model_data_source == S3ModelData(uri, data_type, compression) and spec.has_model_data


@pytest.mark.parametrize(
    ("source", "extra", "message"),
    [
        ({"S3Uri": "s3://b-1/m", "S3DataType": "S3Prefix", "CompressionType": "None"}, {}, "must end with '/'"),
        ({"S3Uri": "s3://b-1/m/", "S3DataType": "S3Prefix", "CompressionType": "Gzip"}, {}, "requires S3DataType"),
        ({"S3Uri": "https://x/m.tar.gz", "S3DataType": "S3Object", "CompressionType": "Gzip"}, {}, "s3:// URI"),
        (
            {"S3Uri": "s3://b-1/m.tar.gz", "S3DataType": "S3Object", "CompressionType": "Gzip"},
            {"ModelDataUrl": "s3://b-1/m.tar.gz"},
            "cannot both be specified",
        ),
        (
            {
                "S3Uri": "s3://b-1/m/",
                "S3DataType": "S3Prefix",
                "CompressionType": "None",
                "ManifestS3Uri": "s3://b-1/x",
            },
            {},
            "ManifestS3Uri",
        ),
    ],
)
def test_refused_forms_say_why(source: dict[str, Any], extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        validate_create_model(_model(source, **extra))
