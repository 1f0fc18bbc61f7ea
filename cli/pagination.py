"""Automatic pagination, as the AWS CLI does it for every operation botocore's SageMaker paginator
model (paginators-1.json) lists: all pages are fetched and merged unless --no-paginate; --page-size
sets the operation's limit member on every call; --max-items caps the items printed and then prints
a NextToken for --starting-token to resume from, cut mid-page if need be.

Tokens are botocore's: base64 of the JSON {"NextToken": <service token>, "boto_truncate_amount": n},
so a token printed by the AWS CLI resumes here and the other way round. This is a port of botocore's
PageIterator for the top-level result keys SageMaker uses, not an import: `botocore.paginate` costs
0.34 s at import, more than a whole one-shot may. Only the standard library is imported here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Call = Callable[[dict[str, Any]], dict[str, Any]]


class PaginationError(Exception):
    """A bad combination of paging options or a bad --starting-token (a usage error)."""


@dataclass
class Paging:
    """The paging options of one command line."""

    max_items: int | None = None
    starting_token: str | None = None
    page_size: int | None = None
    paginate: bool = True

    @property
    def used(self) -> list[str]:
        """The paging options given, as flags (for messages)."""
        given = {
            "--starting-token": self.starting_token,
            "--page-size": self.page_size,
            "--max-items": self.max_items,
        }
        return [flag for flag, value in given.items() if value is not None]


@functools.lru_cache(maxsize=1)
def _paginators() -> dict[str, dict[str, Any]]:
    """botocore's SageMaker paginator model, read from its data directory without importing
    botocore (its import alone costs more than this whole command should)."""
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations))) / "data" / "sagemaker"
    versions = sorted(p for p in root.iterdir() if (p / "paginators-1.json").is_file()) if root.is_dir() else []
    if not versions:
        return {}
    return json.loads((versions[-1] / "paginators-1.json").read_text())["pagination"]


def config_for(operation: str) -> dict[str, Any] | None:
    return _paginators().get(operation)


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def encode_token(token: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(token).encode()).decode()


class Pages:
    """The pages of one paginated call, fetched eagerly, with what the formats need: the merged
    result (json, table, yaml) or the pages one by one (text, yaml-stream)."""

    def __init__(self, call: Call, config: dict[str, Any], request: dict[str, Any], paging: Paging) -> None:
        self.input_tokens = _as_list(config["input_token"])
        self.output_tokens = _as_list(config["output_token"])
        self.result_keys = _as_list(config["result_key"])
        self.non_aggregate_keys = _as_list(config.get("non_aggregate_keys", []))
        self.more_results: str | None = config.get("more_results")
        self.limit_key: str | None = config.get("limit_key")
        self.resume_token: str | None = None
        self.non_aggregate_part: dict[str, Any] = {}
        self.pages = list(self._iterate(call, dict(request), paging))

    def _start(self, paging: Paging) -> tuple[dict[str, Any], int]:
        token = paging.starting_token
        assert token is not None
        try:
            decoded = json.loads(base64.b64decode(token.encode(), validate=True).decode())
            if not isinstance(decoded, dict):
                raise ValueError(token)
            index = int(decoded.pop("boto_truncate_amount", 0))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            # botocore's older form, "token___index"; anything else is the service's own token
            parts = token.split("___")
            index = 0
            if len(parts) == len(self.input_tokens) + 1:
                try:
                    index = int(parts.pop())
                except ValueError:
                    parts = [token]
            if len(parts) > len(self.input_tokens):
                raise PaginationError(f"Bad starting token: {token}") from None
            values: list[Any] = [None if p == "None" else p for p in parts]
            values += [None] * (len(self.input_tokens) - len(values))
            decoded = dict(zip(self.input_tokens, values, strict=True))
        if sorted(decoded) != sorted(self.input_tokens):
            raise PaginationError(f"Bad starting token: {token}")
        return decoded, index

    def _inject(self, request: dict[str, Any], next_token: dict[str, Any]) -> None:
        for name, value in next_token.items():
            if value is not None and value != "None":
                request[name] = value
            else:
                request.pop(name, None)

    def _next_token(self, page: dict[str, Any]) -> dict[str, Any]:
        if self.more_results is not None and not page.get(self.more_results):
            return {}
        return {key: page.get(out) or None for out, key in zip(self.output_tokens, self.input_tokens, strict=True)}

    def _resume(self, token: dict[str, Any]) -> None:
        self.resume_token = encode_token(token)

    def _iterate(self, call: Call, request: dict[str, Any], paging: Paging) -> Iterator[dict[str, Any]]:
        next_token: dict[str, Any] = {key: None for key in self.input_tokens}
        starting_truncation = 0
        if paging.starting_token is not None:
            next_token, starting_truncation = self._start(paging)
            self._inject(request, next_token)
        if paging.page_size is not None and self.limit_key:
            request[self.limit_key] = paging.page_size
        primary = self.result_keys[0]
        total = 0
        first = True
        previous: dict[str, Any] | None = None
        while True:
            page = call(dict(request))
            if first:
                if paging.starting_token is not None:
                    items = page.get(primary)
                    page[primary] = items[starting_truncation:] if isinstance(items, (list, str)) else None
                    for key in self.result_keys[1:]:
                        sample = page.get(key)
                        page[key] = (
                            []
                            if isinstance(sample, list)
                            else ""
                            if isinstance(sample, str)
                            else sample
                            if isinstance(sample, (int, float))
                            else None
                        )
                self.non_aggregate_part = {k: page.get(k) for k in self.non_aggregate_keys}
                first = False
            else:
                starting_truncation = 0
            current = page.get(primary) or []
            truncate = total + len(current) - paging.max_items if paging.max_items is not None else 0
            if truncate > 0:
                keep = len(current) - truncate
                page[primary] = current[:keep]
                next_token["boto_truncate_amount"] = keep + starting_truncation
                self._resume(next_token)
                yield page
                return
            yield page
            total += len(current)
            next_token = self._next_token(page)
            if all(t is None for t in next_token.values()):
                return
            if paging.max_items is not None and total == paging.max_items:
                self._resume(next_token)
                return
            if previous is not None and previous == next_token:
                raise PaginationError(f"The same next token was received twice: {next_token}")
            self._inject(request, next_token)
            previous = next_token

    def full_result(self) -> dict[str, Any]:
        """All pages merged: the result keys concatenated, the rest from the first page, and the
        NextToken to resume from when --max-items cut it (botocore's build_full_result)."""
        result: dict[str, Any] = {}
        for page in self.pages:
            for key in self.result_keys:
                value = page.get(key)
                if value is None:
                    continue
                if key not in result:
                    result[key] = list(value) if isinstance(value, list) else value  # the pages stay as fetched
                elif isinstance(value, list):
                    result[key].extend(value)
                elif isinstance(value, (int, float, str)):
                    result[key] = result[key] + value
        for key, value in self.non_aggregate_part.items():
            result.setdefault(key, value)
        if self.resume_token is not None:
            result["NextToken"] = self.resume_token
        return result

    def formatted_pages(self) -> list[dict[str, Any]]:
        """The pages as the AWS CLI's text format prints them: only the result keys (the first page
        also the other members), then a NextToken section when --max-items cut the output."""
        out: list[dict[str, Any]] = []
        for i, page in enumerate(self.pages):
            current: dict[str, Any] = dict(self.non_aggregate_part) if i == 0 else {}
            for key in self.result_keys:
                current[key] = page.get(key)
            out.append(current)
        if self.resume_token is not None:
            out.append({"NextToken": {"NextToken": self.resume_token}})
        return out


def call(call: Call, operation: str, request: dict[str, Any], paging: Paging) -> dict[str, Any] | Pages:
    """Run ``operation``: paginated when botocore's model paginates it and nothing turns that off
    (--no-paginate, or the operation's own token or limit member given, as the AWS CLI decides)."""
    config = config_for(operation)
    if config is None:
        if paging.used:
            raise PaginationError(f"{operation} is not paginated: {', '.join(paging.used)} cannot be used with it")
        return call(request)
    own = [*_as_list(config["input_token"]), *([config["limit_key"]] if "limit_key" in config else [])]
    paginate = paging.paginate and not any(request.get(name) is not None for name in own)
    if not paginate:
        if paging.used:
            raise PaginationError(
                "Cannot specify --no-paginate along with pagination arguments: " + ", ".join(paging.used)
            )
        return call(request)
    if paging.page_size is not None and "limit_key" not in config:
        raise PaginationError("PageSize parameter is not supported for the pagination interface for this operation.")
    return Pages(call, config, request, paging)
