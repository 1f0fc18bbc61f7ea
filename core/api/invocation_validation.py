"""InvokeEndpoint's request members (the path's endpoint name and the headers), checked as the
runtime's service model states them, before anything is routed. Design notes: docs/wire-edge.md."""

from __future__ import annotations

import re

from inferpipe.core.api.validation import Checker
from inferpipe.core.errors import ValidationError, ValidationException
from inferpipe.core.serving.router import Invocation

NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
ASCII_PATTERN = r"\p{ASCII}*"
INFERENCE_ID_PATTERN = r"\A\S[\p{Print}]*\z"
MAX_HEADER = 1024

_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
# Java's \S (no ASCII white space) then POSIX \p{Print}: printable ASCII and the space.
_INFERENCE_ID = re.compile(r"[^ \t\n\x0b\f\r][\x20-\x7e]*")


def check_invocation(inv: Invocation) -> None:
    c = Checker()
    _name(c, inv.endpoint, "endpointName")
    for value, path in (
        (inv.content_type, "contentType"),
        (inv.accept, "accept"),
        (inv.custom_attributes, "customAttributes"),
    ):
        if value is None:
            continue
        if len(value) > MAX_HEADER:
            c.fail(value, path, f"Member must have length less than or equal to {MAX_HEADER}")
        if not value.isascii():
            c.fail(value, path, f"Member must satisfy regular expression pattern: {ASCII_PATTERN}")
    if inv.target_variant is not None:
        _name(c, inv.target_variant, "targetVariant")
    if inv.target_container is not None:
        _name(c, inv.target_container, "targetContainerHostname")
    if inv.inference_id is not None:
        c.string(inv.inference_id, "inferenceId", min_len=1, max_len=64)
        if inv.inference_id and not _INFERENCE_ID.fullmatch(inv.inference_id):
            c.fail(
                inv.inference_id,
                "inferenceId",
                f"Member must satisfy regular expression pattern: {INFERENCE_ID_PATTERN}",
            )
    try:
        c.raise_if_any()
    except ValidationException as exc:
        raise ValidationError(exc.message) from None


def _name(c: Checker, value: str, path: str) -> None:
    if len(value) > 63:
        c.fail(value, path, "Member must have length less than or equal to 63")
    if not _NAME.fullmatch(value):
        c.fail(value, path, f"Member must satisfy regular expression pattern: {NAME_PATTERN}")
