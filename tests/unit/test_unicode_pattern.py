"""The service model's Unicode-category patterns, which Python's re cannot compile, checked by
category: every such pattern a supported operation reaches compiles, and each admits and refuses
what its class says."""

from __future__ import annotations

import pytest

from inferpipe.core.api import shapes
from inferpipe.core.api.supported import SUPPORTED_OPERATIONS
from inferpipe.core.api.unicode_pattern import unicode_class_matcher

DESCRIPTION = r"[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*"  # EntityDescription
SOURCE_URI = r"[\p{L}\p{M}\p{Z}\p{N}\p{P}]{0,1024}"  # ModelPackageSourceUri
METADATA = r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}"  # CustomerMetadataKey


def test_every_unicode_pattern_of_a_supported_operation_has_a_matcher() -> None:
    model = shapes.service_model()
    found: set[str] = set()

    def walk(shape, seen: set[str]) -> None:  # noqa: ANN001
        if shape.name in seen:
            return
        seen.add(shape.name)
        if shape.type_name == "structure":
            for member in shape.members.values():
                walk(member, seen)
        elif shape.type_name == "list":
            walk(shape.member, seen)
        elif shape.type_name == "map":
            walk(shape.key, seen)
            walk(shape.value, seen)
        elif "\\p{" in shape.metadata.get("pattern", ""):
            found.add(shape.metadata["pattern"])

    seen: set[str] = set()
    for operation in SUPPORTED_OPERATIONS:
        walk(model.operation_model(operation).input_shape, seen)
    assert {DESCRIPTION, SOURCE_URI, METADATA} <= found
    for pattern in found:
        assert unicode_class_matcher(pattern) is not None, pattern


@pytest.mark.parametrize(
    ("pattern", "value", "ok"),
    [
        (DESCRIPTION, "Wine pipeline, v2 (retrained) — 95% ✓", True),
        (DESCRIPTION, "", True),
        (DESCRIPTION, "bell\x07", False),
        (DESCRIPTION, "tab\there", False),
        (SOURCE_URI, "s3://bucket/key", True),
        (SOURCE_URI, "a+b", False),  # + is a symbol (S), not in this class
        (SOURCE_URI, "x" * 1025, False),
        (METADATA, "team/owner=ml@x", True),
        (METADATA, "a#b", False),
    ],
)
def test_matchers_follow_the_categories(pattern: str, value: str, ok: bool) -> None:
    matcher = unicode_class_matcher(pattern)
    assert matcher is not None
    assert matcher(value) is ok


def test_plain_patterns_are_left_to_re() -> None:
    assert unicode_class_matcher(r"[a-zA-Z0-9\-]+") is None
