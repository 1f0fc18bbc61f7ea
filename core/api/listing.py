"""ListX semantics shared by every kind: name and time filters, sorting, opaque NextToken paging."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from inferpipe.core.errors import ValidationException
from inferpipe.core.store import Record


def parse_time(value: Any) -> float:
    """boto3 sends epoch seconds; other clients may send ISO-8601."""
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float: no time a record can have
        raise ValidationException(f"Could not parse timestamp '{value}'.") from None
    except (TypeError, ValueError):
        pass
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationException(f"Could not parse timestamp '{value}'.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except Exception:  # noqa: BLE001 - any garbage is the same user error
        offset = None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationException("Invalid pagination token: NextToken does not come from a previous call.")
    return offset


def page(
    records: list[Record],
    req: dict[str, Any],
    summarize: Callable[[Record], dict[str, Any]],
    *,
    default_max: int = 10,
    sort_keys: dict[str, Callable[[Record], Any]] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    name_contains = (req.get("NameContains") or "").lower()
    selected = [r for r in records if name_contains in r.name.lower()]
    for key, attr, op in (
        ("CreationTimeBefore", "created", lambda a, b: a < b),
        ("CreationTimeAfter", "created", lambda a, b: a >= b),
        ("LastModifiedTimeBefore", "modified", lambda a, b: a < b),
        ("LastModifiedTimeAfter", "modified", lambda a, b: a >= b),
    ):
        if req.get(key) is not None:
            bound = parse_time(req[key])
            selected = [r for r in selected if op(getattr(r, attr), bound)]
    if req.get("StatusEquals"):
        selected = [r for r in selected if r.status == req["StatusEquals"]]
    keys: dict[str, Callable[[Record], Any]] = {
        "Name": lambda r: r.name,
        "CreationTime": lambda r: r.created,
        "Status": lambda r: r.status or "",
    }
    keys.update(sort_keys or {})
    sort_by = req.get("SortBy") or "CreationTime"
    selected.sort(
        key=lambda r: (keys[sort_by](r), r.name), reverse=(req.get("SortOrder") or "Descending") == "Descending"
    )
    offset = decode_token(req["NextToken"]) if req.get("NextToken") else 0
    limit = int(req.get("MaxResults") or default_max)
    chunk = selected[offset : offset + limit]
    token = encode_token(offset + limit) if offset + limit < len(selected) else None
    return [summarize(r) for r in chunk], token
