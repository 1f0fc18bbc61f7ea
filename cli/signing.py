"""Client-side Signature Version 4, standard library only, for the CLI.

The daemon verifies with botocore's own signer (core/sigv4.py). The CLI cannot afford botocore:
importing botocore.auth costs 85-120 ms on our machines (`python -X importtime`), while a
one-shot `inferpipe invoke` takes about 50 ms in all, and hmac/hashlib/datetime cost 4 ms. So the
CLI signs with these few lines, and tests/unit/test_sigv4.py checks they produce exactly
botocore's Authorization header for the same request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit

from inferpipe.core.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sagemaker"  # the signing name of both `sagemaker` and `sagemaker-runtime`
TIMESTAMP = "%Y%m%dT%H%M%SZ"
# Headers a hop may rewrite or that botocore never signs; signing them would only break requests.
_UNSIGNED = {
    "authorization",
    "connection",
    "content-length",
    "expect",
    "keep-alive",
    "transfer-encoding",
    "user-agent",
    "accept-encoding",
    "te",
    "upgrade",
}


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _canonical_query(query: str) -> str:
    pairs = [(quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(query, keep_blank_values=True)]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _key(secret: str, day: str, region: str, service: str) -> bytes:
    k = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    creds: Credentials,
    *,
    service: str = SERVICE,
    now: dt.datetime | None = None,
    body_sha256: str | None = None,
) -> dict[str, str]:
    """The headers to add (X-Amz-Date, Authorization) so `method url` with `headers` (which must
    include Host exactly as it will be sent) and `body` carries a valid SigV4 signature."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime(TIMESTAMP)
    to_sign = {k.lower(): " ".join(str(v).split()) for k, v in headers.items() if k.lower() not in _UNSIGNED}
    to_sign["x-amz-date"] = stamp
    names = sorted(to_sign)
    parts = urlsplit(url)
    canonical = "\n".join(
        [
            method.upper(),
            quote(parts.path or "/", safe="/~"),
            _canonical_query(parts.query),
            "".join(f"{n}:{to_sign[n]}\n" for n in names),
            ";".join(names),
            body_sha256 or payload_hash(body),
        ]
    )
    scope = f"{stamp[:8]}/{creds.region}/{service}/aws4_request"
    string_to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(
        _key(creds.secret_access_key, stamp[:8], creds.region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    return {
        "X-Amz-Date": stamp,
        "Authorization": f"{ALGORITHM} Credential={creds.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}",
    }


def host_header(url: str) -> str:
    """Host as an HTTP client sends it for `url`: the port only when it is not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{host}:{parts.port}" if parts.port and parts.port != default else host
