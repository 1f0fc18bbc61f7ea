"""A control-plane request body, from bytes to the dictionary an operation takes, refusing what no
SageMaker request can be. Design notes: docs/wire-edge.md."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from inferpipe.core.api.validation import Checker, camel
from inferpipe.core.errors import SerializationException

# Members whose value is a map (user keys, not structure members): a null there is a map value.
MAP_MEMBERS = frozenset({"Environment"})
MAX_NULL_REPORTS = 100  # a list of a million nulls gets a message of a hundred, not a million
MAX_INT_DIGITS = 20

_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_request(raw: bytes, max_depth: int) -> dict[str, Any]:
    """The request as a dict, or a SageMakerError saying what is wrong with the body."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerializationException(
            f"The request body is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}):"
            " a SageMaker request is a UTF-8 encoded JSON object."
        ) from None
    if not text.strip():
        return {}
    try:
        payload = json.loads(text, parse_constant=_refuse_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep(max_depth) from None
    if not isinstance(payload, dict):
        raise SerializationException("The request body must be a JSON object.")
    check_shape(payload, max_depth)
    return payload


def _refuse_constant(name: str) -> Any:
    raise SerializationException(
        f"The request body is not valid JSON: {name} is not a JSON number (JSON has no NaN or Infinity)."
    )


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SerializationException(f"The request body is not valid JSON: the number {text[:40]} is out of range.")
    return value


def _int(text: str) -> int:
    # Python would parse a 4,000-digit integer (slowly); no SageMaker member is wider than 64 bits.
    if len(text.lstrip("-")) > MAX_INT_DIGITS or not -(2**63) <= (value := int(text)) < 2**63:
        raise SerializationException(
            f"The request body is not valid JSON: the number {text[:40]}{'...' if len(text) > 40 else ''} is out"
            " of range of a 64-bit integer."
        )
    return value


def _too_deep(max_depth: int) -> SerializationException:
    return SerializationException(
        f"The request body nests objects and arrays more than {max_depth} levels deep, deeper than any SageMaker"
        " request (INFERPIPE_MAX_REQUEST_DEPTH sets this limit)."
    )


def check_shape(payload: dict[str, Any], max_depth: int) -> None:
    """Depth, lone surrogates and null list members of a decoded request (see the module doc).

    Iterative, with an explicit stack: the point is to be safe on input a recursive walk is not.
    """
    nulls = Checker()
    # (value, path from the body: member names and 0-based list indexes, depth)
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(payload, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        if isinstance(value, dict):
            is_map = bool(path) and path[-1] in MAP_MEMBERS
            items: list[tuple[str | int, Any]] = []
            for key, item in value.items():
                if _SURROGATE.search(key):
                    raise _surrogate(path + (key,))
                items.append((key, item))
            if is_map and any(item is None for _, item in items) and len(nulls.errors) < MAX_NULL_REPORTS:
                nulls.fail(value, _member_path(path), "Map value must satisfy constraint: [Member must not be null]")
        else:
            items = list(enumerate(value)) if isinstance(value, list) else []
        children = []
        for key, item in items:
            if item is None:
                if isinstance(key, int) and len(nulls.errors) < MAX_NULL_REPORTS:
                    nulls.errors.append(
                        f"Value null at '{_member_path(path + (key,))}' failed to satisfy constraint:"
                        " Member must not be null"
                    )
            elif isinstance(item, str):
                if _SURROGATE.search(item):
                    raise _surrogate(path + (key,))
            elif isinstance(item, (dict, list)):
                children.append((item, path + (key,), depth + 1))
        stack.extend(reversed(children))  # depth first, in document order, so messages read in order
    nulls.raise_if_any()


def _member_path(path: tuple[str | int, ...]) -> str:
    """The service's name for a member: camelCase names, ``N.member`` (1-based) for list members."""
    return ".".join(f"{p + 1}.member" if isinstance(p, int) else camel(p) for p in path)


def _surrogate(path: tuple[str | int, ...]) -> SerializationException:
    where = ".".join(str(p) if isinstance(p, int) else p.encode("utf-8", "backslashreplace").decode() for p in path)
    return SerializationException(
        f"The request body is not valid: the string at '{where}' (or its member name) holds a lone UTF-16"
        " surrogate escape such as \\ud800, which is not a Unicode character."
    )
