"""Field constraints checked the way SageMaker's front end checks them, every violation reported at
once: the service model's members come from ``api.shapes``, the service's own rules from each
resource. Design notes: docs/wire-edge.md."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from inferpipe.core.errors import ValidationException

# The model's tag pattern, which Python's re cannot run (see tag_text_ok).
TAG_PATTERN = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
TAG_PUNCTUATION = frozenset("_.:/=+-@")
ALARM_NAME_PATTERN = r"(?!\s*$).+"
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
SPECIAL_FLOATS = ("NaN", "Infinity", "-Infinity")


def camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def render(value: Any, limit: int = 256) -> str:
    """How the service prints an offending value: Java's toString (``{K=V}``, ``[a, b]``), with
    long structures cut short so a message stays readable."""
    if isinstance(value, str):
        return value
    text = _java(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _java(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java(k)}={_java(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    return str(value)


def tag_text_ok(value: str) -> bool:
    """``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``: letters, separators, numbers and a little punctuation
    (Python's re has no \\p{...} classes, so by Unicode category)."""
    return all(ch in TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN" for ch in value)


class Checker:
    """Collects violations; ``raise_if_any`` throws them as one ValidationException.

    Two kinds, as the service has two layers: member constraints (``fail``, ``problem``) are
    reported together as ``N validation errors detected: ...``; service rules (``rule``: cross-field
    checks, as ``More than one container in MultiModel mode is not supported with inference
    pipeline.``) come in the service's own words, unwrapped, and only once every member constraint
    holds (the front end refuses the request before the service looks at it).
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.rules: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.errors.append(f"Value '{render(value)}' at '{path}' failed to satisfy constraint: {constraint}")

    def problem(self, message: str) -> None:
        """A rule that is not a single-member constraint (cross-field, existence...)."""
        self.errors.append(message)

    def rule(self, message: str) -> None:
        """A service rule beyond one member's constraints, reported verbatim (see the class doc)."""
        self.rules.append(message)

    def required(self, data: Mapping[str, Any], key: str, path: str) -> bool:
        if data.get(key) is None:
            self.errors.append(f"Value null at '{path}' failed to satisfy constraint: Member must not be null")
            return False
        return True

    def string(
        self,
        value: Any,
        path: str,
        *,
        min_len: int | None = None,
        max_len: int | None = None,
        pattern: str | None = None,
        enum: Iterable[str] | None = None,
    ) -> bool:
        if value is None:
            return True
        if not isinstance(value, str):
            self.fail(value, path, "Member must be a string")
            return False
        ok = self._length(value, path, min_len, max_len)
        if pattern is not None and not _full_match(pattern, value):
            self.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")
            ok = False
        if enum is not None:
            allowed = list(enum)
            if value not in allowed:
                self.fail(value, path, f"Member must satisfy enum value set: [{', '.join(allowed)}]")
                ok = False
        return ok

    def integer(self, value: Any, path: str, *, minimum: int | None = None, maximum: int | None = None) -> bool:
        if value is None:
            return True
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(value, path, "Member must be an integer")
            return False
        # Integer members are 32-bit on the service; a larger number is refused, not carried along.
        low = INT_MIN if minimum is None else max(minimum, INT_MIN)
        high = INT_MAX if maximum is None else min(maximum, INT_MAX)
        return self._range(value, path, low, high)

    def number(self, value: Any, path: str, *, minimum: float | None = None, maximum: float | None = None) -> bool:
        if value is None:
            return True
        if value in SPECIAL_FLOATS:
            # botocore sends a NaN or infinite float as these strings (the JSON protocols' encoding)
            self.fail(value, path, "Member must be a finite number")
            return False
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(value, path, "Member must be a number")
            return False
        return self._range(value, path, minimum, maximum)

    def boolean(self, value: Any, path: str) -> bool:
        if value is None or isinstance(value, bool):
            return True
        self.fail(value, path, "Member must be a boolean")
        return False

    def _length(self, value: str | list[Any], path: str, min_len: int | None, max_len: int | None) -> bool:
        ok = True
        if max_len is not None and len(value) > max_len:
            self.fail(value, path, f"Member must have length less than or equal to {max_len}")
            ok = False
        if min_len is not None and len(value) < min_len:
            self.fail(value, path, f"Member must have length greater than or equal to {min_len}")
            ok = False
        return ok

    def sequence(self, value: Any, path: str, *, min_len: int | None = None, max_len: int | None = None) -> bool:
        if value is None:
            return True
        if not isinstance(value, list):
            self.fail(value, path, "Member must be a list")
            return False
        return self._length(value, path, min_len, max_len)

    def structure(self, value: Any, path: str) -> bool:
        if value is None or isinstance(value, dict):
            return True
        self.fail(value, path, "Member must be a structure")
        return False

    def _range(self, value: float, path: str, minimum: float | None, maximum: float | None) -> bool:
        if minimum is not None and value < minimum:
            self.fail(value, path, f"Member must have value greater than or equal to {minimum}")
            return False
        if maximum is not None and value > maximum:
            self.fail(value, path, f"Member must have value less than or equal to {maximum}")
            return False
        return True

    def raise_if_any(self) -> None:
        if self.errors:
            n = len(self.errors)
            head = "1 validation error detected: " if n == 1 else f"{n} validation errors detected: "
            raise ValidationException(head + "; ".join(self.errors))
        if self.rules:
            raise ValidationException(" ".join(self.rules))


def _full_match(pattern: str, value: str) -> bool:
    # Service patterns are unanchored in the model but apply to the whole value.
    body = pattern.removeprefix("^").removesuffix("$")
    return re.fullmatch(body, value) is not None


def prune_nulls(value: Any) -> Any:
    """JSON nulls mean "not given": drop them so Describe never echoes ``"VpcConfig": null``."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value
