"""The fast path for one-shot describe-* and list-* commands.

Scripts call these in loops; through Typer, rich and httpx a describe costs as much as the AWS CLI
itself. This module takes the ordinary case with the standard library (and jmespath, for --query):
the member flags parsed from the cached model extract (aws_args, service_model), the request
signed by signing.py, the JSON printed as the AWS CLI prints it. A list-* is paginated by the
full CLI's paginator (pagination.py, standard library too), paging options included, so both
paths print the same pages and tokens. Anything else (help, --output other than json, a global
option, a usage error or a paging error, no daemon of this home answering) returns None and the
full CLI takes over, so there is one owner for every message.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import urllib.parse
from typing import Any

from . import aws_args, global_options, pagination, service_model
from .fast import _daemon_url, _home

PREFIXES = ("describe-", "list-")
PAGING_VALUES = ("--max-items", "--starting-token", "--page-size")


class _StepAside(Exception):
    """The daemon did not answer (or not in JSON): the full CLI takes the line."""


class _ServiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _split_output(argv: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """argv without --output json, --query EXPR, --endpoint-url URL and the paging options
    (returned by name); None when the output is not plain JSON."""
    rest: list[str] = []
    taken: dict[str, str] = {}
    i = 0
    while i < len(argv):
        name, eq, inline = argv[i].partition("=")
        if name in ("--output", "-o", "--query", "--endpoint-url", *PAGING_VALUES):
            value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else None)
            if value is None or (name in ("--output", "-o") and value != "json"):
                return None
            taken[name] = value
            i += 1 if eq else 2
            continue
        if name == "--no-paginate" and not eq:
            taken[name] = ""
            i += 1
            continue
        if name in ("-h", "--help"):
            return None
        rest.append(argv[i])
        i += 1
    return rest, taken


def _paging(taken: dict[str, str]) -> pagination.Paging | None:
    """The paging options as the full CLI reads them; None for a value it would refuse."""
    numbers: dict[str, int | None] = {}
    for name in ("--max-items", "--page-size"):
        value = taken.get(name)
        if value is not None and not (value.isdigit() and int(value) >= 1):
            return None
        numbers[name] = int(value) if value is not None else None
    return pagination.Paging(
        numbers["--max-items"], taken.get("--starting-token"), numbers["--page-size"], "--no-paginate" not in taken
    )


def run(argv: list[str]) -> int | None:
    """Exit code, or None to let the full CLI handle this command line."""
    if not argv or not argv[0].startswith(PREFIXES):
        return None
    operation = service_model.command_operations().get(argv[0])
    if operation is None or service_model.extract()["operations"][operation]["service"] != "sagemaker":
        return None
    split = _split_output(argv[1:])
    if split is None:
        return None
    rest, taken = split
    query = taken.get("--query")
    if query is None and sys.stdout.isatty():
        return None  # a person at a terminal gets the full CLI's table
    opts = global_options.GlobalOptions()
    try:
        rest = global_options.extract(rest, opts)
        parsed = aws_args.split(operation, rest)
    except (global_options.GlobalOptionError, aws_args.ArgumentError):
        return None
    if opts != global_options.GlobalOptions() or parsed.rest or parsed.skeleton:
        return None
    if aws_args.missing_required(operation, parsed.request):
        return None
    url = _daemon_url({"endpoint_url": taken["--endpoint-url"]} if "--endpoint-url" in taken else {})
    if url is None:
        return None
    paging = _paging(taken)
    if paging is None:
        return None

    def call(request: dict[str, Any]) -> dict[str, Any]:
        answer = _call(url, operation, request)
        if answer is None:
            raise _StepAside
        status, data = answer
        if status >= 300:
            code = str(data.get("__type", "InternalFailure")).split("#")[-1]
            raise _ServiceError(code, data.get("message") or data.get("Message") or "")
        return data

    try:
        answer = pagination.call(call, operation, parsed.request, paging)
    except (_StepAside, pagination.PaginationError):
        return None
    except _ServiceError as exc:
        print(f"An error occurred ({exc.code}) when calling the {operation} operation: {exc}", file=sys.stderr)
        return 254
    result = answer.full_result() if isinstance(answer, pagination.Pages) else answer
    if query is not None:
        import jmespath

        try:
            result = jmespath.search(query, result)
        except jmespath.exceptions.JMESPathError:
            return None
    sys.stdout.write(json.dumps(result, indent=4, ensure_ascii=False) + "\n")
    return 0


def _call(url: str, operation: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    from inferpipe.cli import signing
    from inferpipe.core import credentials

    body = json.dumps(request).encode()
    parts = urllib.parse.urlsplit(url)
    headers = {
        "Host": signing.host_header(url),
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"SageMaker.{operation}",
    }
    creds = credentials.for_client(_home(), os.environ)
    if creds is not None:  # none: the daemon explains what is missing
        headers.update(signing.sign("POST", f"{parts.scheme}://{parts.netloc}/", headers, body, creds))
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=75)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
    except OSError:
        return None  # nobody answers: the full CLI explains (or starts the daemon)
    finally:
        conn.close()
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        return None
    return resp.status, data if isinstance(data, dict) else {}
