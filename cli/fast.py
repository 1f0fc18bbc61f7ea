"""The fast path for one-shot invocations.

`inferpipe invoke` and `invoke-endpoint` run in shell loops, where importing Typer, rich and httpx
costs ten times the request itself. This module uses the standard library only and handles just
the ordinary case; anything else (help, an option it does not know, no daemon of this home
answering yet) returns None and the full CLI takes over, so there is one owner for every message.
It reads --body with params.read_body (the full CLI's reader, standard library at import) and
signs with inferpipe.cli.signing, the standard-library signer (botocore's import alone would
double this path's time).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import urllib.parse
from pathlib import Path

from .params import read_body  # standard library only at import, like this module

FAST_COMMANDS = ("invoke", "invoke-endpoint")
DEFAULT_PORT = 8765

_FLAGS = {
    "--endpoint-name": "endpoint_name",
    "--body": "body",
    "-b": "body",
    "--content-type": "content_type",
    "-t": "content_type",
    "--accept": "accept",
    "-a": "accept",
    "--custom-attributes": "custom_attributes",
    "--target-variant": "target_variant",
    "--target-container-hostname": "target_container_hostname",
    "--inference-id": "inference_id",
    "--endpoint-url": "endpoint_url",
}


def invocation_headers(
    content_type: str | None,
    accept: str | None,
    custom_attributes: str | None,
    target_variant: str | None,
    target_container_hostname: str | None,
    inference_id: str | None,
) -> dict[str, str]:
    pairs = {
        "Content-Type": content_type,
        "Accept": accept,
        "X-Amzn-SageMaker-Custom-Attributes": custom_attributes,
        "X-Amzn-SageMaker-Target-Variant": target_variant,
        "X-Amzn-SageMaker-Target-Container-Hostname": target_container_hostname,
        "X-Amzn-SageMaker-Inference-Id": inference_id,
    }
    return {k: v for k, v in pairs.items() if v}


def _parse(argv: list[str]) -> tuple[dict[str, str], list[str]] | None:
    opts: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in _FLAGS:
            if not eq:
                if i + 1 >= len(argv):
                    return None
                value = argv[i + 1]
                i += 1
            opts[_FLAGS[name]] = value
        elif arg.startswith("-") and arg != "-":
            return None  # --help, --output, --query...: the full CLI's business
        else:
            positional.append(arg)
        i += 1
    return opts, positional


def _home() -> Path:
    return Path(os.environ.get("INFERPIPE_HOME") or Path.home() / ".inferpipe").expanduser().resolve()


def _daemon_url(opts: dict[str, str]) -> str | None:
    url = opts.get("endpoint_url") or os.environ.get("INFERPIPE_URL")
    if url:
        return url
    # Only this home's running daemon leaves its pid file; otherwise the full CLI starts one.
    if not (_home() / "daemon.pid").exists():
        return None
    port = os.environ.get("INFERPIPE_PORT") or str(DEFAULT_PORT)
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        return None  # the full CLI says what is wrong with it
    return f"http://127.0.0.1:{port}"


def run(argv: list[str]) -> int | None:
    """Exit code, or None to let the full CLI handle this command line."""
    if not argv or argv[0] not in FAST_COMMANDS:
        return None
    parsed = _parse(argv[1:])
    if parsed is None:
        return None
    opts, positional = parsed
    command = argv[0]
    if command == "invoke":
        if len(positional) != 1:
            return None
        endpoint, outfile = positional[0], None
        opts.setdefault("content_type", "text/csv")
    else:
        if len(positional) != 1 or "endpoint_name" not in opts or "body" not in opts:
            return None
        endpoint, outfile = opts["endpoint_name"], positional[0]
    url = _daemon_url(opts)
    if url is None:
        return None
    body = read_body(opts["body"]) if "body" in opts else sys.stdin.buffer.read()
    headers = invocation_headers(
        opts.get("content_type"),
        opts.get("accept"),
        opts.get("custom_attributes"),
        opts.get("target_variant"),
        opts.get("target_container_hostname"),
        opts.get("inference_id"),
    )
    from inferpipe.cli import signing
    from inferpipe.core import credentials  # standard library only, like this module

    parts = urllib.parse.urlsplit(url)
    path = f"/endpoints/{urllib.parse.quote(endpoint)}/invocations"
    headers["Host"] = signing.host_header(url)
    creds = credentials.for_client(_home(), os.environ)
    if creds is not None:  # none: the daemon explains what is missing
        headers.update(signing.sign("POST", f"{parts.scheme}://{parts.netloc}{path}", headers, body, creds))
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=75)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
    except OSError:
        return None  # nobody answers: the full CLI explains (or starts the daemon)
    finally:
        conn.close()
    if resp.status >= 300:
        code = (resp.getheader("x-amzn-ErrorType") or "InternalFailure").split(":")[0]
        try:
            message = json.loads(payload).get("Message", "")
        except ValueError:
            message = payload.decode(errors="replace")
        print(f"An error occurred ({code}) when calling the InvokeEndpoint operation: {message}", file=sys.stderr)
        return 254  # a service error, as the AWS CLI v2 exits (cli/exit_codes.py)
    if outfile is None:
        sys.stdout.buffer.write(payload)
        if payload and not payload.endswith(b"\n") and sys.stdout.isatty():
            sys.stdout.write("\n")
        return 0
    if outfile == "-":
        sys.stdout.buffer.write(payload)
        return 0
    Path(outfile).write_bytes(payload)
    meta = {
        "ContentType": resp.getheader("Content-Type"),
        "InvokedProductionVariant": resp.getheader("x-Amzn-Invoked-Production-Variant"),
    }
    attrs = resp.getheader("X-Amzn-SageMaker-Custom-Attributes")
    if attrs:
        meta["CustomAttributes"] = attrs
    sys.stdout.write(json.dumps(meta, indent=4) + "\n")
    return 0
