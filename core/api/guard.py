"""The daemon's front door: one aiohttp middleware (Host, Origin, Content-Type, SigV4) every request
passes before any handler. Design notes: docs/security.md."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from inferpipe.core import credentials
from inferpipe.core.api.sigv4 import AuthError, Verifier, path_of, query_pairs
from inferpipe.core.config import Settings
from inferpipe.core.errors import SageMakerError, UnknownOperationException

log = logging.getLogger("inferpipe.auth")

AUTH_MODES = ("sigv4", "none")
CONTROL_PLANE_TYPE = "application/x-amz-json-1.1"
UNSIGNED_PATHS = frozenset({"/ping"})  # liveness only: answers {"status": "ok", "homeId": ..., "instanceId": ...}
# What a browser script allowed by INFERPIPE_ALLOWED_ORIGINS may read from a response.
EXPOSED_HEADERS = (
    "x-amzn-RequestId, x-amzn-ErrorType, x-Amzn-Invoked-Production-Variant, X-Amzn-SageMaker-Custom-Attributes"
)

Render = Callable[..., web.StreamResponse]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AccessDenied(SageMakerError):
    code = "AccessDeniedException"
    status = 403


class SetupError(Exception):
    """The daemon cannot guard its door as configured: it must not start."""


def is_loopback_host(name: str) -> bool:
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host(host: str) -> tuple[str, str] | None:
    """(name, port) of a Host header value, lower-cased and without IPv6 brackets; None when it
    is not a valid Host value."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name, rest[1:]
    if host.count(":") > 1:
        return None  # an IPv6 literal must be bracketed
    name, colon, port = host.partition(":")
    if not name or (colon and not port.isdigit()):
        return None
    return name, port


@dataclass(frozen=True)
class Policy:
    verifier: Verifier | None  # None: INFERPIPE_AUTH=none
    allowed_hosts: frozenset[str] = frozenset()
    allowed_origins: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        if settings.auth not in AUTH_MODES:
            raise SetupError(f"INFERPIPE_AUTH={settings.auth!r} is not one of: {', '.join(AUTH_MODES)}.")
        verifier = None
        if settings.auth == "sigv4":
            try:
                creds, warnings = credentials.ensure(settings.home, settings.region)
            except credentials.InsecureCredentials as exc:
                raise SetupError(str(exc)) from None
            for warning in warnings:
                log.warning("%s", warning)
            log.info(
                "answering requests signed (SigV4, service sagemaker, region %s) with key %s of %s",
                creds.region,
                creds.access_key_id,
                credentials.path_in(settings.home),
            )
            verifier = Verifier(creds)
        else:
            log.warning(
                "INFERPIPE_AUTH=none: requests are NOT authenticated; any local process (or web page"
                " allowed by INFERPIPE_ALLOWED_ORIGINS) can create containers and stop this daemon."
            )
        return cls(
            verifier,
            frozenset(h.lower() for h in settings.allowed_hosts),
            frozenset(o.lower().rstrip("/") for o in settings.allowed_origins),
        )

    def host_allowed(self, host: str | None) -> bool:
        parsed = split_host(host or "")
        if parsed is None:
            return False
        name, port = parsed
        if is_loopback_host(name):
            return True
        return name in self.allowed_hosts or f"{name}:{port}" in self.allowed_hosts

    def origin_allowed(self, origin: str) -> bool:
        return origin.lower().rstrip("/") in self.allowed_origins

    async def admit(self, request: web.Request) -> web.StreamResponse | None:
        """None to let the request through; a response (a CORS preflight's) to answer with.
        Raises the SageMakerError to refuse it with."""
        host = request.headers.get("Host")
        if not self.host_allowed(host):
            raise AccessDenied(
                f"Host '{host or ''}' is not allowed: the daemon answers loopback names (localhost,"
                " 127.0.0.0/8, [::1]) and the names in INFERPIPE_ALLOWED_HOSTS."
            )
        origin = request.headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin):
            raise AccessDenied(f"Origin '{origin}' is not allowed (INFERPIPE_ALLOWED_ORIGINS).")
        if request.method == "OPTIONS":
            if origin is None:
                raise AccessDenied("OPTIONS is not supported: the daemon grants no CORS preflight.")
            return web.Response(status=204, headers=_preflight_headers(request))
        if request.path == "/" and request.method == "POST":
            media_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if media_type != CONTROL_PLANE_TYPE:
                raise UnknownOperationException(
                    f"Content-Type '{media_type}' is not supported: the SageMaker API takes {CONTROL_PLANE_TYPE}."
                )
        if self.verifier is None or request.path in UNSIGNED_PATHS:
            return None
        query = query_pairs(request.rel_url.raw_query_string)
        claim = self.verifier.inspect(request.headers, query)
        # already read, within its limits, by the body limits' middleware (http_limits.body_guard)
        body = await request.read()
        self.verifier.verify(claim, request.method, path_of(request.raw_path), query, request.headers, body)
        return None


def _preflight_headers(request: web.Request) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": request.headers["Origin"],
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", ""),
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def middleware(policy: Policy, render: Render) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The guard as an aiohttp middleware; `render(exc, rest=..., request_id=...)` is the wire
    edge's error renderer."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        rest = request.path.startswith("/endpoints/")
        try:
            response = await policy.admit(request)
        except SageMakerError as exc:
            if rest and isinstance(exc, AuthError):
                exc.status = exc.rest_status
            response = render(exc, rest=rest, request_id=str(uuid.uuid4()))
        else:
            if response is None:
                response = await handler(request)
        origin = request.headers.get("Origin")
        if origin is not None and policy.origin_allowed(origin) and not response.prepared:
            response.headers.setdefault("Access-Control-Allow-Origin", origin)
            response.headers.setdefault("Access-Control-Expose-Headers", EXPOSED_HEADERS)
            response.headers.setdefault("Vary", "Origin")
        return response

    return guard
