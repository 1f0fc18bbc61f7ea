"""Signature Version 4 verification, as AWS front ends do it, with botocore's own signer.
Design notes: docs/security.md."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials as BotoCredentials

from inferpipe.core.credentials import Credentials
from inferpipe.core.errors import SageMakerError

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sagemaker"
TIMESTAMP = "%Y%m%dT%H%M%SZ"
MAX_SKEW_SECONDS = 300  # AWS refuses a request signed more than 5 minutes from its own clock
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the longest X-Amz-Expires AWS accepts


class AuthError(SageMakerError):
    status = 400  # awsJson1.1 (the control plane)
    rest_status = 403  # restJson1 (the runtime)


class MissingAuthenticationToken(AuthError):
    code = "MissingAuthenticationTokenException"


class UnrecognizedClient(AuthError):
    code = "UnrecognizedClientException"


class InvalidSignature(AuthError):
    code = "InvalidSignatureException"


class IncompleteSignature(AuthError):
    code = "IncompleteSignatureException"


MISSING_TOKEN = "Missing Authentication Token"
UNKNOWN_KEY = "The security token included in the request is invalid."
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret"
    " Access Key and signing method. Consult the service documentation for details."
)
_QUERY_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders")


class Headers(Protocol):
    """What is needed of a request's headers (aiohttp's CIMultiDictProxy, multidict's CIMultiDict)."""

    def get(self, key: str, default: str | None = None) -> str | None: ...
    def getall(self, key: str, default: list[str] = ...) -> list[str]: ...
    def __contains__(self, key: object) -> bool: ...


@dataclass(frozen=True)
class Claim:
    """What a request says about its signature, once the header-level checks passed."""

    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    presigned: bool


def _stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime(TIMESTAMP)


class _AsSigned(SigV4Auth):
    """botocore's signer, told which headers the client signed. botocore picks every header but
    a fixed few when it signs, which is right for a client and wrong for a server: the request
    arrives with headers added after signing (User-Agent, Accept-Encoding...)."""

    def __init__(self, creds: Credentials, service: str, signed: list[tuple[str, str]], key: bytes) -> None:
        super().__init__(BotoCredentials(creds.access_key_id, creds.secret_access_key), service, creds.region)
        self._signed = signed
        self._key = key

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        out = HTTPHeaders()
        for name, value in self._signed:
            out[name] = value  # HTTPMessage appends: a repeated header keeps all its values
        return out

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        # The signing key only changes with the day: derive it once a day, not per request (a
        # quarter of the verification time otherwise), with botocore's own HMAC chain.
        return str(self._sign(self._key, string_to_sign, hex=True))

    def signing_key(self, day: str) -> bytes:
        k = self._sign(f"AWS4{self.credentials.secret_key}".encode(), day)
        for part in (self._region_name, self._service_name, "aws4_request"):
            k = self._sign(k, part)
        return bytes(k)


class Verifier:
    def __init__(self, creds: Credentials, *, service: str = SERVICE, clock: Callable[[], float] = time.time) -> None:
        self.creds = creds
        self.service = service
        self.clock = clock
        self._keys: dict[str, bytes] = {}  # day -> signing key

    def _key_for(self, day: str) -> bytes:
        if day not in self._keys:
            self._keys = {day: _AsSigned(self.creds, self.service, [], b"").signing_key(day)}
        return self._keys[day]

    # step 1: headers only ---------------------------------------------------------------------
    def inspect(self, headers: Headers, query: Sequence[tuple[str, str]]) -> Claim:
        auth = headers.get("Authorization")
        params = dict(query)
        if auth is None and "X-Amz-Signature" not in params and "X-Amz-Credential" not in params:
            raise MissingAuthenticationToken(MISSING_TOKEN)
        if auth is not None:
            algorithm, fields = self._parse_header(auth, headers)
            timestamp = headers.get("X-Amz-Date") or _from_http_date(headers.get("Date") or "")
            expires = None
        else:
            missing = [p for p in _QUERY_PARAMS if p not in params]
            if missing:
                raise IncompleteSignature(
                    "AWS query-string parameters must include "
                    + ", ".join(f"'{p}'" for p in _QUERY_PARAMS)
                    + ". Re-examine the query-string parameters."
                )
            algorithm = params["X-Amz-Algorithm"]
            fields = {
                "Credential": params["X-Amz-Credential"],
                "SignedHeaders": params["X-Amz-SignedHeaders"],
                "Signature": params["X-Amz-Signature"],
            }
            timestamp = params["X-Amz-Date"]
            expires = _expires(params.get("X-Amz-Expires"))
        if algorithm != ALGORITHM:
            raise IncompleteSignature(
                f"Unsupported signing algorithm '{algorithm}': the daemon verifies {ALGORITHM} (Signature Version 4)."
            )
        self._check_scope(fields["Credential"], timestamp)
        self._check_time(timestamp, expires)
        key_id = fields["Credential"].split("/", 1)[0]
        if not _same(key_id, self.creds.access_key_id):
            raise UnrecognizedClient(UNKNOWN_KEY)
        signed = tuple(h for h in fields["SignedHeaders"].lower().split(";") if h)
        if "host" not in signed:
            raise InvalidSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
        return Claim(signed, fields["Signature"], timestamp, auth is None)

    def _parse_header(self, value: str, headers: Headers) -> tuple[str, dict[str, str]]:
        # The way AWS reads it: the first word is the algorithm, then key=value pairs separated by
        # commas or spaces; a pair without '=' and any missing part are reported as AWS words them.
        algorithm, _, rest = value.strip().partition(" ")
        fields: dict[str, str] = {}
        for token in re.split(r"[\s,]+", rest.strip()):
            if not token:
                continue
            name, eq, val = token.partition("=")
            if not eq:
                raise IncompleteSignature(
                    f"'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
                )
            fields[name] = val
        problems = [
            f"Authorization header requires '{p}' parameter."
            for p in ("Credential", "Signature", "SignedHeaders")
            if not fields.get(p)
        ]
        if "X-Amz-Date" not in headers and "Date" not in headers:
            problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        if problems:
            raise IncompleteSignature(" ".join(problems) + f" Authorization={value}")
        return algorithm, fields

    def _check_scope(self, credential: str, timestamp: str) -> None:
        parts = credential.split("/")
        if len(parts) != 5:
            raise IncompleteSignature(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term,"
                f" got '{credential}'"
            )
        _key, day, region, service, terminator = parts
        if terminator != "aws4_request":
            raise InvalidSignature(
                f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            )
        if service != self.service:
            raise InvalidSignature(f"Credential should be scoped to correct service: '{self.service}'. ")
        if region != self.creds.region:
            raise InvalidSignature(f"Credential should be scoped to a valid region, not '{region}'. ")
        if not re.fullmatch(r"\d{8}T\d{6}Z", timestamp or ""):
            raise IncompleteSignature(f"Date must be in ISO-8601 'basic format'. Got '{timestamp}'.")
        if day != timestamp[:8]:
            raise InvalidSignature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP:"
                f" '{day}' != '{timestamp[:8]}', from '{timestamp}'."
            )

    def _check_time(self, timestamp: str, expires: int | None) -> None:
        t = timestamp  # already checked to be dddddddd'T'dddddd'Z' (strptime costs 20 us here)
        try:
            parts = (int(t[:4]), int(t[4:6]), int(t[6:8]), int(t[9:11]), int(t[11:13]), int(t[13:15]))
            signed_at = calendar.timegm(dt.datetime(*parts).timetuple())
        except ValueError:
            raise IncompleteSignature(f"Date must be in ISO-8601 'basic format'. Got '{timestamp}'.") from None
        now = self.clock()
        if expires is not None:  # a presigned URL is good from its date until its expiry
            if signed_at + expires < now:
                raise InvalidSignature(
                    f"Signature expired: {timestamp} is now earlier than {_stamp(now - expires)}"
                    f" ({_stamp(now)} - {expires} sec.)"
                )
        elif signed_at < now - MAX_SKEW_SECONDS:
            raise InvalidSignature(
                f"Signature expired: {timestamp} is now earlier than {_stamp(now - MAX_SKEW_SECONDS)}"
                f" ({_stamp(now)} - 5 min.)"
            )
        if signed_at > now + MAX_SKEW_SECONDS:
            raise InvalidSignature(
                f"Signature not yet current: {timestamp} is still later than {_stamp(now + MAX_SKEW_SECONDS)}"
                f" ({_stamp(now)} + 5 min.)"
            )

    # step 2: the body and the signature ---------------------------------------------------------
    def verify(
        self,
        claim: Claim,
        method: str,
        raw_path: str,
        query: Sequence[tuple[str, str]],
        headers: Headers,
        body: bytes,
    ) -> None:
        body_hash = hashlib.sha256(body).hexdigest()
        declared = headers.get("X-Amz-Content-SHA256")
        if declared is not None and declared != body_hash:
            # botocore (rightly, for a client) trusts this header instead of hashing the body; a
            # server must not, or a signed header would vouch for any body.
            raise InvalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.")
        signed = [(name, value) for name in claim.signed_headers for value in headers.getall(name, [])]
        if len({n for n, _ in signed}) != len(claim.signed_headers):
            raise InvalidSignature(BAD_SIGNATURE)  # a signed header that did not arrive
        if not all(_is_text(value) for _, value in signed):
            # Header bytes that are not UTF-8 arrive as lone surrogates, which botocore's signer
            # (the client's as well as ours) cannot canonicalize: no client can have signed them.
            raise InvalidSignature(BAD_SIGNATURE)
        params = [(k, v) for k, v in query if k != "X-Amz-Signature"] if claim.presigned else list(query)
        # The URL's host is not used (the signed Host header is); the body's hash is given, so
        # botocore does not hash the body a second time.
        request = AWSRequest(
            method=method, url=f"http://localhost{raw_path}", headers={"X-Amz-Content-SHA256": body_hash}
        )
        request.params = params
        request.context["timestamp"] = claim.timestamp
        signer = _AsSigned(self.creds, self.service, signed, self._key_for(claim.timestamp[:8]))
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not _same(expected, claim.signature):
            raise InvalidSignature(BAD_SIGNATURE)


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _same(a: str, b: str) -> bool:
    """Constant-time equality that also takes what a client may send: hmac.compare_digest refuses
    str with non-ASCII characters (a TypeError, so a 500), bytes it compares whatever they hold."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def _from_http_date(value: str) -> str:
    """A `Date` header (RFC 1123) as a SigV4 timestamp; empty when it is not a date."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return ""
    if parsed is None:
        return ""
    return parsed.astimezone(dt.UTC).strftime(TIMESTAMP)


def _expires(value: str | None) -> int:
    try:
        seconds = int(value or "")
    except ValueError:
        raise IncompleteSignature(f"X-Amz-Expires must be a number of seconds, not '{value}'.") from None
    if not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise IncompleteSignature(
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds (7 days), not {seconds}."
        )
    return seconds


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query string as decoded pairs, in order (botocore re-encodes them canonically)."""
    return parse_qsl(raw_query, keep_blank_values=True)


def path_of(raw_path: str) -> str:
    """The raw (still percent-encoded) path without its query: what the client signed."""
    return raw_path.split("?", 1)[0] or "/"
